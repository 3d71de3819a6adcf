import assert from "node:assert/strict";
import { test } from "node:test";
import type { QueueListing } from "../../queue/spool.ts";
import { messageActions, qid, queueTable, subjectOf } from "./queue_view.ts";

const MESSAGE: QueueListing = {
  id: "Q/1",
  sender: "",
  size: 2048,
  receivedAt: 1000,
  held: true,
  recipients: [{
    address: "a@far.example",
    state: "queued",
    attempts: 2,
    nextAttempt: 61_000,
    lastError: "451 <try> later",
  }],
};

test("subjectOf() reads the decoded Subject from the head of a message", () => {
  const bytes = new TextEncoder().encode("From: a\r\nSubject: =?utf-8?q?h=C3=A9?=\r\n\r\nbody");
  assert.equal(subjectOf(bytes), "hé");
  assert.equal(subjectOf(new TextEncoder().encode("From: a\r\n\r\n")), "");
  assert.equal(subjectOf(undefined), "");
});

test("qid() puts the id in the path safely", () => {
  assert.equal(qid("Q/1"), "/queue/Q%2F1");
});

test("messageActions() offers Release for a held message, and a confirmed Delete", async () => {
  const actions = String(await messageActions(MESSAGE, "/queue?x=1&y=2"));
  assert.match(actions, /action="\/queue\/Q%2F1\/release"/);
  assert.doesNotMatch(actions, /\/hold"/);
  assert.match(actions, /data-confirm="Delete message Q\/1 for good\?"/);
  assert.match(actions, /name="back" value="\/queue\?x=1&amp;y=2"/);
});

test("queueTable() shows state, attempts, next try and the escaped last error", async () => {
  const table = String(await queueTable([MESSAGE], 1000, "/queue", () => "<i>hi</i>"));
  assert.match(table, /<td class="subject">&lt;i&gt;hi&lt;\/i&gt;<\/td>/);
  assert.match(table, /<td class="addr">&lt;&gt;<\/td>/, "the null sender");
  assert.match(table, /<span class="badge deferred">deferred<\/span>/);
  assert.match(table, /2× · next try in 1m/);
  assert.match(table, /451 &lt;try&gt; later/);
  assert.match(table, /<span class="badge held">held<\/span>/);
  assert.match(String(await queueTable([], 0, "/queue")), /id="queue-empty"/);
});
