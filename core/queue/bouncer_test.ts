import assert from "node:assert/strict";
import { test } from "node:test";
import { SILENT_LOGGER } from "../log.ts";
import { createBouncer } from "./bouncer.ts";
import type { DueMessage, NewMessage } from "./spool.ts";

const MESSAGE: DueMessage = {
  id: "ORIG1",
  sender: "alice@far.example",
  params: { smtputf8: false, eightBit: false, ret: "HDRS", envid: "ENV-7" },
  data: new TextEncoder().encode(
    "Subject: hello\r\nFrom: alice@far.example\r\n\r\nsecret body\r\n",
  ),
  receivedAt: Date.UTC(2026, 0, 1),
  isBounce: false,
  warned: false,
  recipients: [
    {
      address: "bob@x.example",
      original: "bob@x.example",
      attempts: 1,
      orcpt: { type: "rfc822", address: "Bob@x.example" },
    },
    { address: "carol@local.example", original: "carol@local.example", attempts: 0 },
  ],
};

test("createBouncer() queues one null-sender report to the original sender", async () => {
  const queued: NewMessage[] = [];
  let woken = 0;
  const bounce = createBouncer({
    spool: { put: (m) => (queued.push(m), Promise.resolve()) },
    hostname: "mx.test",
    now: () => Date.UTC(2026, 0, 2),
    newQueueId: () => "DSN1",
    queued: () => void woken++,
    log: SILENT_LOGGER,
    maxQueueLifetimeMs: 5 * 86_400_000,
  });
  await bounce(MESSAGE, {
    successes: [],
    delays: [],
    failures: [{
      recipient: MESSAGE.recipients[0]!,
      outcome: {
        address: "bob@x.example",
        status: "failed",
        code: 550,
        enhanced: "5.1.1",
        text: "no such user",
        host: "mx.x.example",
      },
    }, {
      recipient: MESSAGE.recipients[1]!,
      outcome: {
        address: "carol@local.example",
        status: "failed",
        code: 550,
        enhanced: "5.1.1",
        text: "Mailbox does not exist",
      },
    }],
  });
  assert.equal(woken, 1);
  assert.equal(queued.length, 1);
  const report = queued[0]!;
  assert.equal(report.id, "DSN1");
  assert.equal(report.sender, "");
  assert.equal(report.isBounce, true);
  assert.deepEqual(report.recipients.map((r) => r.address), ["alice@far.example"]);
  const text = new TextDecoder().decode(report.data);
  assert.match(text, /^To: <?alice@far\.example>?\r$/m);
  assert.match(text, /report-type=delivery-status/);
  assert.match(text, /^Original-Envelope-Id: ENV-7\r$/m);
  assert.match(text, /^Original-Recipient: rfc822; ?Bob@x\.example\r$/m);
  assert.match(text, /^Final-Recipient: rfc822; ?bob@x\.example\r$/m);
  assert.match(text, /^Remote-MTA: dns; ?mx\.x\.example\r$/m);
  assert.match(text, /^Diagnostic-Code: smtp; ?550 5\.1\.1 no such user\r$/m);
  assert.match(text, /^Final-Recipient: rfc822; ?carol@local\.example\r$/m);
  assert.match(text, /^Subject: hello\r$/m, "the original headers come back");
  assert.doesNotMatch(text, /secret body/, "RET=HDRS leaves the body out");
});

test("createBouncer() writes success reports: delivered here, relayed to a hop without DSN", async () => {
  const queued: NewMessage[] = [];
  const bounce = createBouncer({
    spool: { put: (m) => (queued.push(m), Promise.resolve()) },
    hostname: "mx.test",
    now: () => Date.UTC(2026, 0, 2),
    newQueueId: () => "DSN2",
    queued() {},
    log: SILENT_LOGGER,
    maxQueueLifetimeMs: 5 * 86_400_000,
  });
  await bounce(MESSAGE, {
    failures: [],
    delays: [],
    successes: [
      {
        recipient: MESSAGE.recipients[1]!,
        outcome: { address: "carol@local.example", status: "delivered" },
      },
      {
        recipient: MESSAGE.recipients[0]!,
        outcome: { address: "bob@x.example", status: "delivered", host: "mx.x.example" },
      },
    ],
  });
  const text = new TextDecoder().decode(queued[0]?.data);
  assert.match(text, /^Subject: Successful Mail Delivery Report\r$/m);
  assert.match(
    text,
    /^Final-Recipient: rfc822; ?carol@local\.example\r\nAction: delivered\r\nStatus: 2\.0\.0\r$/m,
  );
  assert.match(
    text,
    /^Final-Recipient: rfc822; ?bob@x\.example\r\nAction: relayed\r\nStatus: 2\.0\.0\r$/m,
  );
  assert.equal(queued[0]?.sender, "");
});

test("createBouncer() writes delay warnings with Will-Retry-Until", async () => {
  const queued: NewMessage[] = [];
  const bounce = createBouncer({
    spool: { put: (m) => (queued.push(m), Promise.resolve()) },
    hostname: "mx.test",
    now: () => Date.UTC(2026, 0, 1, 4),
    newQueueId: () => "DSN3",
    queued() {},
    log: SILENT_LOGGER,
    maxQueueLifetimeMs: 5 * 86_400_000,
  });
  await bounce(MESSAGE, {
    failures: [],
    successes: [],
    delays: [{
      recipient: MESSAGE.recipients[0]!,
      outcome: {
        address: "bob@x.example",
        status: "deferred",
        code: 451,
        enhanced: "4.3.0",
        text: "try later",
        host: "mx.x.example",
      },
    }],
  });
  const text = new TextDecoder().decode(queued[0]?.data);
  assert.match(text, /^Subject: Delayed Mail \(still being retried\)\r$/m);
  assert.match(text, /^Action: delayed\r\nStatus: 4\.3\.0\r$/m);
  assert.match(text, /^Will-Retry-Until: Tue, 6 Jan 2026 00:00:00 \+0000\r$/m);
});
