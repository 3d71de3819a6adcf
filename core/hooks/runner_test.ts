import assert from "node:assert/strict";
import { test } from "node:test";
import type { LogFields, Logger } from "../log.ts";
import { accept, reject } from "./decision.ts";
import type { Connection, Plugin } from "./plugin.ts";
import { HookRunner, type HookScope } from "./runner.ts";

function recorder(): Logger & { events: [string, LogFields][] } {
  const events: [string, LogFields][] = [];
  return {
    tracing: false,
    events,
    event: (name, fields) => events.push([name, fields]),
    trace() {},
  };
}

function scope(runner: HookRunner): HookScope {
  const connection: Connection = {
    id: "c1",
    remote: { address: "192.0.2.1", port: 1234 },
    local: { address: "127.0.0.1", port: 25 },
    helo: undefined,
    tls: undefined,
    user: undefined,
  };
  return { connection, transaction: undefined, states: runner.createStates() };
}

test("HookRunner.run() returns the first decision and skips later plugins", async () => {
  const calls: string[] = [];
  const plugins: Plugin[] = [
    { name: "a", data: () => void calls.push("a") },
    { name: "b", data: () => (calls.push("b"), reject(554, "5.7.1", "no")) },
    { name: "c", data: () => (calls.push("c"), accept()) },
  ];
  const runner = new HookRunner(plugins, { timeoutMs: 1000, log: recorder() });
  const decision = await runner.run("data", scope(runner));
  assert.equal(decision?.kind, "reject");
  assert.deepEqual(calls, ["a", "b"]);
});

test("HookRunner.run() returns undefined when nobody decides", async () => {
  const runner = new HookRunner([{ name: "a", data() {} }, { name: "b" }], {
    timeoutMs: 1000,
    log: recorder(),
  });
  assert.equal(await runner.run("data", scope(runner)), undefined);
});

test("HookRunner.run() fails closed with 451 4.3.0 when a plugin throws, naming it", async () => {
  const log = recorder();
  const runner = new HookRunner([
    {
      name: "boom",
      data: () => {
        throw new Error("kaput");
      },
    },
    { name: "never", data: () => accept() },
  ], { timeoutMs: 1000, log });
  const decision = await runner.run("data", scope(runner));
  assert.equal(decision?.kind, "tempfail");
  assert.equal(decision?.reply?.code, 451);
  assert.equal(decision?.reply?.enhanced, "4.3.0");
  assert.equal(log.events[0]?.[0], "plugin_error");
  assert.equal(log.events[0]?.[1].plugin, "boom");
  assert.match(String(log.events[0]?.[1].reason), /kaput/);
});

test("HookRunner.run() fails closed when a plugin times out", async () => {
  const log = recorder();
  const runner = new HookRunner([{ name: "slow", data: () => new Promise(() => {}) }], {
    timeoutMs: 30,
    log,
  });
  const decision = await runner.run("data", scope(runner));
  assert.equal(decision?.reply?.code, 451);
  assert.match(String(log.events[0]?.[1].reason), /timed out/);
});

test("HookRunner.run() fails closed when a plugin returns a non-decision", async () => {
  const log = recorder();
  const runner = new HookRunner([{ name: "odd", data: () => 250 as never }], {
    timeoutMs: 100,
    log,
  });
  assert.equal((await runner.run("data", scope(runner)))?.kind, "tempfail");
  assert.equal(log.events[0]?.[1].plugin, "odd");
});

test("HookRunner keeps each plugin's own state per connection", async () => {
  const counter: Plugin<{ n: number }> = {
    name: "counter",
    createState: () => ({ n: 0 }),
    rcpt(ctx) {
      ctx.state.n++;
      return ctx.state.n > 2 ? reject(452, "4.5.3", "enough") as never : undefined;
    },
  };
  const runner = new HookRunner([counter], { timeoutMs: 100, log: recorder() });
  const one = scope(runner);
  const two = scope(runner);
  const rcpt = {
    mailbox: { local: "a", domain: "b", address: "a@b", utf8: false },
    params: {},
  };
  await runner.run("rcpt", one, rcpt);
  await runner.run("rcpt", one, rcpt);
  await runner.run("rcpt", two, rcpt);
  assert.deepEqual(one.states.get(counter), { n: 2 });
  assert.deepEqual(two.states.get(counter), { n: 1 });
});

test("HookRunner.notify() calls every plugin even after a decision", async () => {
  const calls: string[] = [];
  const runner = new HookRunner([
    { name: "a", reset: () => (calls.push("a"), accept()) },
    { name: "b", reset: () => void calls.push("b") },
  ], { timeoutMs: 100, log: recorder() });
  await runner.notify("reset", scope(runner));
  assert.deepEqual(calls, ["a", "b"]);
});

test("HookRunner.has() tells whether any plugin implements a hook", () => {
  const runner = new HookRunner([{ name: "a", vrfy: () => undefined }], {
    timeoutMs: 100,
    log: recorder(),
  });
  assert.equal(runner.has("vrfy"), true);
  assert.equal(runner.has("expn"), false);
});

test("HookRunner timing sees each implemented hook call, by plugin and hook, failures too", async () => {
  const seen: [string, string, number][] = [];
  const plugins: Plugin[] = [
    { name: "quick", data: () => undefined },
    { name: "none" },
    {
      name: "slow",
      data: async () => {
        await new Promise((r) => setTimeout(r, 5));
        throw new Error("late and broken");
      },
    },
  ];
  const runner = new HookRunner(plugins, {
    timeoutMs: 1000,
    log: recorder(),
    timing: (plugin, hook, seconds) => seen.push([plugin, hook, seconds]),
  });
  await runner.run("data", scope(runner));
  assert.deepEqual(seen.map(([p, h]) => `${p}:${h}`), ["quick:data", "slow:data"]);
  for (const [, , seconds] of seen) assert.ok(seconds >= 0 && seconds < 1000);
});
