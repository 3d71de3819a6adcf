import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadRuntime } from "../runtime/runtime.ts";
import type { NewMessage } from "./spool.ts";
import { SqliteSpool } from "./sqlite_spool.ts";

async function openSpool(path?: string): Promise<{ spool: SqliteSpool; path: string }> {
  const runtime = await loadRuntime();
  const file = path ?? join(mkdtempSync(join(tmpdir(), "spool-")), "postino.db");
  return { spool: new SqliteSpool(runtime.openDatabase(file)), path: file };
}

function message(id: string, recipients: string[], receivedAt = 1000): NewMessage {
  return {
    id,
    sender: "s@far.example",
    params: { smtputf8: false, eightBit: false, ret: "HDRS" },
    data: new TextEncoder().encode(`Subject: ${id}\r\n\r\nbody\r\n`),
    receivedAt,
    isBounce: false,
    recipients: recipients.map((address) => ({ address, original: address })),
  };
}

test("SqliteSpool.put() stores concurrent messages in one group commit and leases them", async () => {
  const { spool } = await openSpool();
  await Promise.all([
    spool.put(message("A", ["a@x.example", "b@x.example"])),
    spool.put(message("B", ["c@y.example"])),
  ]);
  assert.equal(spool.count(), 2);
  const due = spool.lease(2000, 10, 60_000);
  assert.deepEqual(due.map((m) => m.id).sort(), ["A", "B"]);
  const a = due.find((m) => m.id === "A");
  assert.equal(new TextDecoder().decode(a?.data), "Subject: A\r\n\r\nbody\r\n");
  assert.deepEqual(a?.params, { smtputf8: false, eightBit: false, ret: "HDRS" });
  assert.deepEqual(a?.recipients.map((r) => [r.address, r.attempts]), [["a@x.example", 0], [
    "b@x.example",
    0,
  ]]);
  // Leased recipients are not handed out twice.
  assert.deepEqual(spool.lease(2000, 10, 60_000), []);
});

test("SqliteSpool.put() rejects a duplicate id without failing the rest of the batch", async () => {
  const { spool } = await openSpool();
  await spool.put(message("D", ["a@x.example"]));
  const results = await Promise.allSettled([
    spool.put(message("D", ["b@x.example"])),
    spool.put(message("E", ["c@x.example"])),
  ]);
  assert.equal(results[0]?.status, "rejected");
  assert.equal(results[1]?.status, "fulfilled");
  assert.equal(spool.count(), 2);
});

test("SqliteSpool.record() retries deferred recipients later and removes finished messages", async () => {
  const { spool } = await openSpool();
  await spool.put(message("R", ["ok@x.example", "later@x.example", "bad@x.example"]));
  spool.lease(1000, 10, 60_000);
  await spool.record(
    "R",
    [
      { address: "ok@x.example", status: "delivered", host: "mx.x.example" },
      {
        address: "later@x.example",
        status: "deferred",
        code: 451,
        enhanced: "4.3.0",
        text: "try later",
      },
      {
        address: "bad@x.example",
        status: "failed",
        code: 550,
        enhanced: "5.1.1",
        text: "no such user",
      },
    ],
    1000,
    (attempts) => 1000 + attempts * 300_000,
  );
  const [listing] = spool.list();
  assert.deepEqual(
    listing?.recipients.map((r) => [r.address, r.state, r.attempts, r.nextAttempt]),
    [
      ["ok@x.example", "delivered", 1, 1000],
      ["later@x.example", "queued", 1, 301_000],
      ["bad@x.example", "failed", 1, 1000],
    ],
  );
  assert.equal(listing?.recipients[1]?.lastError, "451 4.3.0 try later");
  assert.equal(spool.nextDue(), 301_000);
  assert.deepEqual(spool.lease(300_999, 10, 60_000), []);
  const again = spool.lease(301_000, 10, 60_000);
  assert.deepEqual(again[0]?.recipients.map((r) => [r.address, r.attempts]), [[
    "later@x.example",
    1,
  ]]);
  await spool.record("R", [{ address: "later@x.example", status: "delivered" }], 301_000, () => 0);
  assert.equal(spool.count(), 0);
  assert.equal(spool.nextDue(), undefined);
});

test("SqliteSpool.recover() returns a crashed run's leases, and a new instance sees the queue", async () => {
  const { spool, path } = await openSpool();
  await spool.put(message("C", ["a@x.example"]));
  assert.equal(spool.lease(1000, 10, 60_000).length, 1);
  const { spool: restarted } = await openSpool(path);
  assert.equal(restarted.recover(), 1);
  assert.equal(restarted.lease(1000, 10, 60_000)[0]?.id, "C");
});

test("SqliteSpool hold(), flush() and remove() manage the queue", async () => {
  const { spool } = await openSpool();
  await spool.put(message("H", ["a@x.example"], 5000));
  await spool.put(message("F", ["b@y.example"], 5000));
  assert.equal(spool.hold("H", true), true);
  assert.equal(spool.hold("nope", true), false);
  assert.deepEqual(spool.lease(10_000, 10, 1).map((m) => m.id), ["F"]);
  assert.equal(spool.list().find((m) => m.id === "H")?.held, true);
  spool.hold("H", false);
  assert.equal(spool.flush({ domain: "x.example" }), 1);
  assert.deepEqual(spool.lease(0, 10, 1).map((m) => m.id), ["H"]);
  assert.equal(spool.remove("F"), true);
  assert.equal(spool.remove("F"), false);
  assert.deepEqual(spool.list().map((m) => m.id), ["H"]);
});

test("SqliteSpool.put() with leaseMs stores recipients leased: not handed out, recovered after a crash", async () => {
  const { spool, path } = await openSpool();
  await spool.put(message("L", ["a@x.example"], 1000), { leaseMs: 60_000 });
  assert.deepEqual(spool.lease(10 * 60_000, 10, 1), [], "a leased message is not leased twice");
  assert.equal(spool.list()[0]?.recipients[0]?.state, "leased");
  await spool.record("L", [{ address: "a@x.example", status: "delivered" }], 2000, () => 0);
  assert.equal(spool.count(), 0);
  await spool.put(message("K", ["b@x.example"], 1000), { leaseMs: 60_000 });
  const { spool: restarted } = await openSpool(path);
  assert.equal(restarted.recover(), 1);
  assert.equal(restarted.lease(1000, 10, 1)[0]?.id, "K");
});

test("SqliteSpool.leaseDomains() leases a domain's queued recipients, due or not, to one collector", async () => {
  const { spool } = await openSpool();
  await spool.put(message("A", ["a@hold.example", "b@other.example"]));
  await spool.put(message("B", ["c@HOLD.example", "d@sub.hold.example"]));
  await spool.put(message("C", ["e@hold.example"]));
  spool.hold("C", true); // held by an admin: not collectable
  // Deferred into the future: still collectable.
  const [a] = spool.lease(2000, 1, 60_000);
  assert.equal(a?.id, "A");
  await spool.record(
    "A",
    [
      { address: "a@hold.example", status: "deferred", code: 451, enhanced: "4.0.0", text: "x" },
      { address: "b@other.example", status: "deferred", code: 451, enhanced: "4.0.0", text: "x" },
    ],
    2000,
    () => 1e12,
  );

  const first = spool.leaseDomains(["Hold.Example"], 3000, 60_000);
  assert.deepEqual(first.domains, ["hold.example"]);
  assert.deepEqual(first.busy, []);
  assert.deepEqual(
    first.messages.map((m) => [m.id, m.recipients.map((r) => r.address)]),
    [["A", ["a@hold.example"]], ["B", ["c@HOLD.example"]]],
  );
  // A second collector gets neither the domain nor its messages.
  const second = spool.leaseDomains(["hold.example", "other.example"], 3000, 60_000);
  assert.deepEqual(second.busy, ["hold.example"]);
  assert.deepEqual(second.messages.map((m) => [m.id, m.recipients.map((r) => r.address)]), [
    ["A", ["b@other.example"]],
  ]);
  spool.releaseDomains(second.domains);
  // Nor does the scheduler.
  assert.deepEqual(spool.lease(3000, 10, 60_000).map((m) => m.id), ["B"]);
  spool.releaseDomains(first.domains);
  assert.deepEqual(spool.leaseDomains(["hold.example"], 3000, 60_000).messages, []);
  // A lease left by a collector that died ends by itself.
  const stale = spool.leaseDomains(["late.example"], 3000, 1000);
  assert.deepEqual(stale.domains, ["late.example"]);
  assert.deepEqual(spool.leaseDomains(["late.example"], 3500, 1000).busy, ["late.example"]);
  assert.deepEqual(spool.leaseDomains(["late.example"], 4000, 1000).domains, ["late.example"]);
});

test("SqliteSpool.presence() and unlease() follow hold and remove", async () => {
  const { spool } = await openSpool();
  await spool.put(message("P", ["a@x.example"]), { leaseMs: 60_000 });
  assert.equal(spool.presence("P"), "ready");
  spool.hold("P", true);
  assert.equal(spool.presence("P"), "held");
  spool.unlease("P");
  const [r] = spool.listing("P")?.recipients ?? [];
  assert.deepEqual([r?.state, r?.attempts], ["queued", 0]);
  spool.remove("P");
  assert.equal(spool.presence("P"), "gone");
  assert.equal(spool.listing("P"), undefined);
});

test("SqliteSpool.listing(), stored() and attempts() read one message", async () => {
  const { spool } = await openSpool();
  await spool.put(message("S", ["a@x.example", "b@x.example"]));
  await spool.put(message("T", ["c@x.example"]));
  spool.lease(2000, 10, 60_000);
  await spool.record(
    "S",
    [
      { address: "a@x.example", status: "delivered", host: "mx.x.example" },
      { address: "b@x.example", status: "deferred", code: 451, enhanced: "4.3.0", text: "later" },
    ],
    3000,
    () => 9000,
  );
  const listing = spool.listing("S");
  assert.deepEqual(listing?.recipients.map((r) => [r.address, r.state, r.nextAttempt]), [
    ["a@x.example", "delivered", 3000],
    ["b@x.example", "queued", 9000],
  ]);
  assert.deepEqual(spool.list().find((m) => m.id === "S"), listing);
  const stored = spool.stored("S");
  assert.equal(new TextDecoder().decode(stored?.data), "Subject: S\r\n\r\nbody\r\n");
  assert.deepEqual(stored?.params, { smtputf8: false, eightBit: false, ret: "HDRS" });
  assert.equal(stored?.held, false);
  assert.deepEqual(spool.attempts("S"), [
    { address: "a@x.example", at: 3000, status: "delivered", detail: "mx.x.example" },
    { address: "b@x.example", at: 3000, status: "deferred", detail: "451 4.3.0 later" },
  ]);
  assert.equal(spool.stored("nope"), undefined);
  assert.deepEqual(spool.attempts("T"), []);
});
