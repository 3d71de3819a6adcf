import assert from "node:assert/strict";
import { test } from "node:test";
import type { QueueListing, RecipientStatus } from "./spool.ts";
import { filterQueue, messageState, recipientState } from "./queue_filter.ts";

function rcpt(address: string, state: RecipientStatus["state"], attempts = 0): RecipientStatus {
  return { address, state, attempts, nextAttempt: 0, lastError: undefined };
}

function message(id: string, sender: string, recipients: RecipientStatus[], held = false) {
  return { id, sender, size: 10, receivedAt: 0, held, recipients } satisfies QueueListing;
}

const QUEUE: QueueListing[] = [
  message("A", "alice@example.org", [rcpt("x@far.example", "queued")]),
  message("B", "bob@example.net", [
    rcpt("y@far.example", "queued", 2),
    rcpt("z@near.test", "delivered", 1),
  ]),
  message("C", "", [rcpt("w@near.test", "leased", 1)]),
  message("D", "Alice@Example.org", [rcpt("v@Far.Example", "queued", 1)], true),
];

test("recipientState() calls a queued recipient with attempts deferred", () => {
  assert.equal(recipientState(rcpt("a@b", "queued")), "queued");
  assert.equal(recipientState(rcpt("a@b", "queued", 1)), "deferred");
  assert.equal(recipientState(rcpt("a@b", "leased", 1)), "delivering");
  assert.equal(recipientState(rcpt("a@b", "failed", 3)), "failed");
});

test("messageState() ranks held, then delivering, deferred, queued", () => {
  assert.deepEqual(QUEUE.map(messageState), ["queued", "deferred", "delivering", "held"]);
  assert.equal(messageState(message("E", "", [rcpt("a@b", "delivered", 1)])), "done");
});

test("filterQueue() matches sender and recipient parts, domains and states, any case", () => {
  const ids = (filter: Parameters<typeof filterQueue>[1]) =>
    filterQueue(QUEUE, filter).map((m) => m.id);
  assert.deepEqual(ids({}), ["A", "B", "C", "D"]);
  assert.deepEqual(ids({ sender: "ALICE" }), ["A", "D"]);
  assert.deepEqual(ids({ recipient: "z@near" }), ["B"]);
  assert.deepEqual(ids({ domain: "far.example" }), ["A", "B", "D"]);
  assert.deepEqual(ids({ domain: "@near.test" }), ["B", "C"]);
  assert.deepEqual(ids({ domain: "example" }), [], "domains match whole");
  assert.deepEqual(ids({ state: "deferred" }), ["B"]);
  assert.deepEqual(ids({ state: "held", sender: "alice" }), ["D"]);
  assert.deepEqual(ids({ sender: " ", recipient: "", domain: "", state: "" }), [
    "A",
    "B",
    "C",
    "D",
  ]);
});
