import assert from "node:assert/strict";
import { test } from "node:test";
import type { QueueListing, RecipientStatus } from "../queue/spool.ts";
import { filterQueue, type QueueFilter } from "../queue/queue_filter.ts";

function rcpt(address: string, state: RecipientStatus["state"], attempts: number): RecipientStatus {
  return { address, state, attempts, nextAttempt: 0, lastError: undefined };
}

const fresh: QueueListing = {
  id: "A",
  sender: "Alice@Example.org",
  size: 1,
  receivedAt: 0,
  held: false,
  recipients: [rcpt("bob@Remote.test", "queued", 0)],
};
const deferred: QueueListing = {
  ...fresh,
  id: "B",
  sender: "",
  recipients: [rcpt("carol@other.test", "queued", 2), rcpt("dan@remote.test", "delivered", 1)],
};
const leased: QueueListing = {
  ...fresh,
  id: "C",
  recipients: [rcpt("x@remote.test", "leased", 0)],
};
const held: QueueListing = { ...deferred, id: "D", held: true };

const cases: [QueueFilter, string[]][] = [
  [{}, ["A", "B", "C", "D"]],
  [{ sender: "alice" }, ["A", "C"]],
  [{ recipient: "REMOTE" }, ["A", "B", "C", "D"]],
  [{ recipient: "carol@" }, ["B", "D"]],
  [{ domain: "remote.test" }, ["A", "B", "C", "D"]],
  [{ domain: "other.TEST" }, ["B", "D"]],
  [{ domain: "test" }, []],
  [{ state: "queued" }, ["A"]],
  [{ state: "deferred" }, ["B"]],
  [{ state: "delivering" }, ["C"]],
  [{ state: "held" }, ["D"]],
  [{ state: "deferred", domain: "other.test" }, ["B"]],
];

for (const [filter, ids] of cases) {
  test(`filterQueue() with ${JSON.stringify(filter)}, as GET /api/queue uses it`, () => {
    const got = filterQueue([fresh, deferred, leased, held], filter);
    assert.deepEqual(got.map((m) => m.id), ids);
  });
}
