import assert from "node:assert/strict";
import { test } from "node:test";
import type { HookContext, Transaction } from "../core/hooks/plugin.ts";
import type { NewMessage } from "../core/queue/spool.ts";
import { parseMailbox } from "../core/smtp/address.ts";
import { Message } from "../core/smtp/message.ts";
import { expandRecipient, spool } from "./spool.ts";

const RESOLVE: Record<string, { mailboxes: string[]; remote: string[]; unknown: string[] }> = {
  "alice@example.org": { mailboxes: ["alice@example.org"], remote: [], unknown: [] },
  "team@example.org": {
    mailboxes: ["alice@example.org", "bob@example.org"],
    remote: ["x@far.example"],
    unknown: [],
  },
};
const directory = { resolve: (a: string) => RESOLVE[a], isUser: (a: string) => a in RESOLVE };
const isLocalDomain = (d: string) => d === "example.org";

function transaction(
  recipients: string[],
  params: Transaction["params"] = { smtputf8: false },
): Transaction {
  return {
    id: "QID",
    mode: "MAIL",
    sender: parseMailbox("s@far.example") ?? null,
    params,
    recipients: recipients.map((r) => ({
      mailbox: parseMailbox(r)!,
      params: r.startsWith("team") ? { notify: ["FAILURE", "DELAY"] } : {},
    })),
  };
}

function context(t: Transaction): HookContext {
  return { transaction: t, log: { info() {}, warn() {} } } as unknown as HookContext;
}

test("expandRecipient() expands local aliases and keeps remote recipients as they are", () => {
  const [team] = transaction(["team@example.org"]).recipients;
  assert.deepEqual(
    expandRecipient(team!, { directory, isLocalDomain }).map((
      r,
    ) => [r.address, r.original, r.notify]),
    [
      ["alice@example.org", "team@example.org", ["FAILURE", "DELAY"]],
      ["bob@example.org", "team@example.org", ["FAILURE", "DELAY"]],
      ["x@far.example", "team@example.org", ["FAILURE", "DELAY"]],
    ],
  );
  const [far] = transaction(["y@far.example"]).recipients;
  assert.deepEqual(expandRecipient(far!, { directory, isLocalDomain }), [{
    address: "y@far.example",
    original: "y@far.example",
  }]);
});

test("spool() commits one entry per distinct delivery address, then wakes delivery", async () => {
  const stored: NewMessage[] = [];
  let woken = 0;
  const plugin = spool({
    spool: { put: (m) => (stored.push(m), Promise.resolve()), count: () => 0 },
    directory,
    isLocalDomain,
    maxQueued: 10,
    queued: () => void woken++,
    now: () => 1234,
  });
  const message = Message.parse(new TextEncoder().encode("Subject: é\r\n\r\nbody\r\n"));
  const decision = await plugin.queue?.(
    context(transaction(["alice@example.org", "team@example.org"], {
      smtputf8: false,
      ret: "FULL",
      envid: "E1",
    })),
    message,
  );
  assert.equal(decision?.kind, "accept");
  assert.equal(woken, 1);
  assert.equal(stored.length, 1);
  assert.equal(stored[0]?.id, "QID");
  assert.equal(stored[0]?.sender, "s@far.example");
  assert.equal(stored[0]?.receivedAt, 1234);
  assert.deepEqual(stored[0]?.params, {
    smtputf8: false,
    eightBit: true,
    ret: "FULL",
    envid: "E1",
  });
  assert.deepEqual(stored[0]?.recipients.map((r) => r.address), [
    "alice@example.org",
    "bob@example.org",
    "x@far.example",
  ]);
});

test("spool() answers 451 4.3.1 when the spool cannot write, and 452 4.3.1 at MAIL when full", async () => {
  const broken = spool({
    spool: { put: () => Promise.reject(new Error("disk full")), count: () => 10 },
    directory,
    isLocalDomain,
    maxQueued: 10,
    queued() {},
    now: () => 0,
  });
  const decision = await broken.queue?.(
    context(transaction(["alice@example.org"])),
    Message.parse(new Uint8Array()),
  );
  assert.equal(decision?.reply?.code, 451);
  assert.equal(decision?.reply?.enhanced, "4.3.1");
  const full = await broken.mail?.(context(transaction([])), null, { smtputf8: false });
  assert.equal(full?.reply?.code, 452);
  assert.equal(full?.reply?.enhanced, "4.3.1");
});

test("spool() hands the message to a free worker, stored leased, instead of waking the poller", async () => {
  const puts: { message: NewMessage; options: unknown }[] = [];
  const delivered: string[] = [];
  let woken = 0;
  const plugin = spool({
    spool: {
      put: (m, o) => (puts.push({ message: m, options: o }), Promise.resolve()),
      count: () => 0,
    },
    directory,
    isLocalDomain,
    maxQueued: 10,
    queued: () => void woken++,
    worker: {
      reserve: () => true,
      release() {},
      deliverLeased: (m) => void delivered.push(m.id),
      leaseMs: 900_000,
    },
    now: () => 1,
  });
  const decision = await plugin.queue?.(
    context(transaction(["alice@example.org"])),
    Message.parse(new Uint8Array()),
  );
  assert.equal(decision?.kind, "accept");
  assert.deepEqual(puts[0]?.options, { leaseMs: 900_000 });
  assert.deepEqual(delivered, ["QID"]);
  assert.equal(woken, 0);
});

test("spool() gives the worker back when the write fails", async () => {
  let released = 0;
  const plugin = spool({
    spool: { put: () => Promise.reject(new Error("disk full")), count: () => 0 },
    directory,
    isLocalDomain,
    maxQueued: 10,
    queued() {},
    worker: { reserve: () => true, release: () => void released++, deliverLeased() {}, leaseMs: 1 },
    now: () => 1,
  });
  const decision = await plugin.queue?.(
    context(transaction(["alice@example.org"])),
    Message.parse(new Uint8Array()),
  );
  assert.equal(decision?.reply?.code, 451);
  assert.equal(released, 1);
});
