import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SILENT_LOGGER } from "../log.ts";
import { loadRuntime } from "../runtime/runtime.ts";
import { DEFAULT_RETRY } from "./backoff.ts";
import { ManualClock } from "./clock.ts";
import {
  type Delay,
  type Deliverer,
  type Failure,
  Scheduler,
  type SchedulerOptions,
  type Success,
  wantsSuccessReport,
} from "./scheduler.ts";
import type { DueMessage, NewMessage, Outcome } from "./spool.ts";
import { SqliteSpool } from "./sqlite_spool.ts";

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

async function setup(
  answer: (address: string, attempt: number) => Outcome["status"],
  extra: Partial<SchedulerOptions> = {},
) {
  const runtime = await loadRuntime();
  const spool = new SqliteSpool(
    runtime.openDatabase(join(mkdtempSync(join(tmpdir(), "sched-")), "p.db")),
  );
  const clock = new ManualClock(0);
  const calls: { via: string; key: string; addresses: string[]; at: number }[] = [];
  const bounces: { id: string; failures: Failure[]; successes: Success[]; delays: Delay[] }[] = [];
  const tries = new Map<string, number>();
  const deliverer = (via: string): Deliverer => ({
    deliver(_message, recipients, route) {
      calls.push({
        via,
        key: route.key,
        addresses: recipients.map((r) => r.address),
        at: clock.now(),
      });
      return Promise.resolve(recipients.map((r): Outcome => {
        const attempt = (tries.get(r.address) ?? 0) + 1;
        tries.set(r.address, attempt);
        const status = answer(r.address, attempt);
        return status === "delivered" ? { address: r.address, status } : {
          address: r.address,
          status,
          code: status === "failed" ? 550 : 451,
          enhanced: status === "failed" ? "5.1.1" : "4.3.0",
          text: "remote said no",
        };
      }));
    },
  });
  const scheduler = new Scheduler({
    spool,
    clock,
    retry: { ...DEFAULT_RETRY, jitter: 0 },
    concurrency: 4,
    leaseMs: 10 * MIN,
    pollMs: 60 * MIN,
    route: (_m, r) =>
      r.address.endsWith("@local.example")
        ? { via: "local", key: "" }
        : { via: "smtp", key: r.address.slice(r.address.indexOf("@") + 1) },
    deliverer: (via) => ({ local: deliverer("local"), smtp: deliverer("smtp") })[via],
    bounce: (message: DueMessage, { failures, successes, delays }) => {
      bounces.push({ id: message.id, failures, successes, delays });
      return Promise.resolve();
    },
    log: SILENT_LOGGER,
    ...extra,
  });
  return { spool, clock, scheduler, calls, bounces };
}

function message(id: string, recipients: string[], sender = "s@far.example"): NewMessage {
  return {
    id,
    sender,
    params: { smtputf8: false, eightBit: false },
    data: new TextEncoder().encode("Subject: t\r\n\r\nx\r\n"),
    receivedAt: 0,
    isBounce: false,
    recipients: recipients.map((address) => ({ address, original: address })),
  };
}

test("Scheduler groups recipients by route and domain and finishes the message", async () => {
  const { spool, scheduler, calls } = await setup(() => "delivered");
  await spool.put(
    message("M1", [
      "a@local.example",
      "b@local.example",
      "c@x.example",
      "d@y.example",
      "e@x.example",
    ]),
  );
  await scheduler.drain();
  assert.deepEqual(
    calls.map((c) => `${c.via}:${c.key}:${c.addresses.join(",")}`).sort(),
    [
      "local::a@local.example,b@local.example",
      "smtp:x.example:c@x.example,e@x.example",
      "smtp:y.example:d@y.example",
    ],
  );
  assert.equal(spool.count(), 0);
});

test("Scheduler retries a 4xx with backoff until it succeeds", async () => {
  const { spool, clock, scheduler, calls, bounces } = await setup((_a, attempt) =>
    attempt < 3 ? "deferred" : "delivered"
  );
  await spool.put(message("M2", ["a@x.example"]));
  await scheduler.drain();
  assert.equal(calls.length, 1);
  clock.advance(5 * MIN - 1);
  await scheduler.drain();
  assert.equal(calls.length, 1, "not before the first retry time");
  clock.advance(1);
  await scheduler.drain();
  assert.equal(calls.length, 2);
  clock.advance(10 * MIN);
  await scheduler.drain();
  assert.deepEqual(calls.map((c) => c.at), [0, 5 * MIN, 15 * MIN]);
  assert.equal(spool.count(), 0);
  assert.equal(bounces.length, 0);
});

test("Scheduler bounces a 5xx once, but never a bounce or a message from <>", async () => {
  const { spool, scheduler, bounces } = await setup(() => "failed");
  await spool.put(message("M3", ["a@x.example", "b@x.example"]));
  await spool.put(message("M4", ["c@x.example"], ""));
  await spool.put({ ...message("M5", ["d@x.example"]), isBounce: true });
  await spool.put({
    ...message("M6", ["e@x.example"]),
    recipients: [{ address: "e@x.example", original: "e@x.example", notify: ["NEVER"] }],
  });
  await scheduler.drain();
  assert.deepEqual(bounces.map((b) => [b.id, b.failures.map((f) => f.recipient.address)]), [
    ["M3", ["a@x.example", "b@x.example"]],
  ]);
  assert.equal(bounces[0]?.failures[0]?.outcome.code, 550);
  assert.equal(spool.count(), 0);
});

test("Scheduler gives up after five days and bounces as expired (4.4.7)", async () => {
  const { spool, clock, scheduler, calls, bounces } = await setup(() => "deferred");
  await spool.put(message("M7", ["a@x.example"]));
  for (let t = 0; t < 6 * DAY && spool.count() > 0; t += 30 * MIN) {
    await scheduler.drain();
    clock.advance(30 * MIN);
  }
  assert.equal(spool.count(), 0);
  assert.equal(bounces.length, 1);
  assert.equal(bounces[0]?.failures[0]?.outcome.dsnStatus, "4.4.7");
  assert.equal(bounces[0]?.failures[0]?.outcome.expired, true);
  assert.equal(bounces[0]?.failures[0]?.outcome.enhanced, "4.3.0", "the remote's own code is kept");
  const last = calls[calls.length - 1]?.at ?? 0;
  assert.ok(last >= 5 * DAY && last < 5 * DAY + 61 * MIN, `last attempt at ${last / DAY} days`);
  // 5, 10, 20, 40 minutes, then hourly: about 124 attempts in five days.
  assert.ok(calls.length > 100 && calls.length < 130, `${calls.length} attempts`);
});

test("Scheduler.start() wakes up for due work through the clock", async () => {
  const { spool, clock, scheduler, calls } = await setup((_a, attempt) =>
    attempt === 1 ? "deferred" : "delivered"
  );
  await spool.put(message("M8", ["a@x.example"]));
  scheduler.start();
  while (calls.length === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20));
  clock.advance(5 * MIN);
  while (calls.length < 2) await new Promise((r) => setTimeout(r, 5));
  await scheduler.stop();
  assert.equal(spool.count(), 0);
});

test("Scheduler reports NOTIFY=SUCCESS deliveries, unless the next hop took the DSN over", async () => {
  const { spool, scheduler, bounces } = await setup(() => "delivered");
  const reports: string[] = [];
  await spool.put({
    ...message("M9", []),
    recipients: [
      { address: "a@local.example", original: "a@local.example", notify: ["SUCCESS", "FAILURE"] },
      { address: "b@local.example", original: "b@local.example" },
    ],
  });
  await scheduler.drain();
  for (const b of bounces) {
    reports.push(
      `${b.id}:${b.failures.length}:${b.successes.map((s) => s.recipient.address).join(",")}`,
    );
  }
  assert.deepEqual(reports, ["M9:0:a@local.example"]);
  const asked = {
    address: "c@x.example",
    original: "c@x.example",
    attempts: 0,
    notify: ["SUCCESS"],
  };
  assert.equal(
    wantsSuccessReport(asked, {
      address: asked.address,
      status: "delivered",
      host: "mx",
      remoteDsn: true,
    }),
    false,
  );
  assert.equal(
    wantsSuccessReport(asked, { address: asked.address, status: "delivered", host: "mx" }),
    true,
  );
});

test("Scheduler sends one delay warning once the message is older than delay_warning", async () => {
  const { spool, clock, scheduler, bounces } = await setup(() => "deferred", {
    delayWarningMs: 60 * MIN,
  });
  await spool.put(message("M10", ["a@x.example"]));
  for (let t = 0; t < 3 * 60 * MIN; t += 5 * MIN) {
    await scheduler.drain();
    clock.advance(5 * MIN);
  }
  assert.deepEqual(
    bounces.map((b) => [b.id, b.delays.map((d) => d.recipient.address), b.failures.length]),
    [
      ["M10", ["a@x.example"], 0],
    ],
  );
  assert.equal(spool.list()[0]?.recipients[0]?.state, "queued", "still being retried");
});

test("Scheduler.reserve() hands a new message to a free worker; none when all are busy", async () => {
  const { spool, scheduler, calls } = await setup(() => "delivered", { concurrency: 1 });
  assert.equal(scheduler.reserve(), false, "not before start()");
  scheduler.start();
  assert.equal(scheduler.reserve(), true);
  assert.equal(scheduler.reserve(), false, "the only worker is reserved");
  const m = message("M11", ["a@local.example"]);
  await spool.put(m, { leaseMs: 60_000 });
  scheduler.deliverLeased(m);
  while (spool.count() > 0) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(calls.map((c) => c.addresses), [["a@local.example"]]);
  assert.equal(scheduler.reserve(), true, "free again");
  scheduler.release();
  await scheduler.stop();
});

test("Scheduler.stop() waits at most the grace period for a delivery that hangs", async () => {
  const runtime = await loadRuntime();
  const spool = new SqliteSpool(
    runtime.openDatabase(join(mkdtempSync(join(tmpdir(), "sched-")), "p.db")),
  );
  const scheduler = new Scheduler({
    spool,
    clock: new ManualClock(0),
    retry: DEFAULT_RETRY,
    concurrency: 1,
    leaseMs: MIN,
    pollMs: MIN,
    route: () => ({ via: "stuck", key: "" }),
    deliverer: () => ({ deliver: () => new Promise(() => {}) }),
    bounce: () => Promise.resolve(),
    log: SILENT_LOGGER,
  });
  await spool.put(message("M12", ["a@x.example"]));
  scheduler.start();
  await new Promise((r) => setTimeout(r, 20));
  const started = Date.now();
  await scheduler.stop(50);
  assert.ok(Date.now() - started < 5_000, "stop() returned");
  assert.equal(spool.list()[0]?.recipients[0]?.state, "leased", "left leased for recover()");
});

test("Scheduler leaves a message held after its lease: no delivery, recipients queued again", async () => {
  const { spool, scheduler, calls } = await setup(() => "delivered");
  scheduler.start();
  const m = message("H1", ["a@x.example"]);
  assert.equal(scheduler.reserve(), true);
  await spool.put(m, { leaseMs: 10 * MIN });
  // Held between the lease and the delivery (the admin API, a CLI).
  assert.equal(spool.hold("H1", true), true);
  scheduler.deliverLeased(m);
  await scheduler.drain();
  assert.deepEqual(calls, []);
  const [r] = spool.listing("H1")?.recipients ?? [];
  assert.deepEqual([r?.state, r?.attempts], ["queued", 0]);
  // Released, it goes out as usual.
  spool.hold("H1", false);
  await scheduler.drain();
  assert.equal(calls.length, 1);
  assert.equal(spool.count(), 0);
  await scheduler.stop();
});

test("Scheduler neither bounces nor records a message removed while it was delivered", async () => {
  const during: { remove?: (id: string) => void } = {};
  const { spool, scheduler, bounces } = await setup(() => "failed", {
    deliverer: () => ({
      deliver(message, recipients) {
        during.remove?.(message.id);
        return Promise.resolve(recipients.map((r): Outcome => ({
          address: r.address,
          status: "failed",
          code: 550,
          enhanced: "5.1.1",
          text: "no such user",
        })));
      },
    }),
  });
  during.remove = (id) => void spool.remove(id);
  await spool.put(message("R1", ["a@x.example"]));
  await scheduler.drain();
  assert.deepEqual(bounces, []);
  assert.equal(spool.count(), 0);
  assert.deepEqual(spool.attempts("R1"), []);
});

test("Scheduler skips a message removed after its lease", async () => {
  const { spool, scheduler, calls } = await setup(() => "delivered");
  scheduler.start();
  const m = message("R2", ["a@x.example"]);
  assert.equal(scheduler.reserve(), true);
  await spool.put(m, { leaseMs: 10 * MIN });
  spool.remove("R2");
  scheduler.deliverLeased(m);
  await scheduler.drain();
  assert.deepEqual(calls, []);
  await scheduler.stop();
});
