import assert from "node:assert/strict";
import { test } from "node:test";
import type { Decision } from "../core/hooks/decision.ts";
import type { HookContext, Plugin } from "../core/hooks/plugin.ts";
import { RATE_LIMIT_DEFAULTS, rateLimit, rateLimitFromHost, SlidingWindow } from "./rate_limit.ts";

function context(address: string): HookContext {
  return {
    connection: { remote: { address, port: 40000 }, local: { address: "192.0.2.25", port: 25 } },
    log: { info() {}, warn() {} },
  } as unknown as HookContext;
}

async function connect(plugin: Plugin, address: string): Promise<string> {
  return describe(await plugin.connect?.(context(address)));
}

async function mail(plugin: Plugin, address: string): Promise<string> {
  return describe(await plugin.mail?.(context(address), null, {} as never));
}

function describe(decision: Decision | undefined | void): string {
  return decision ? `${decision.kind} ${decision.reply?.code} ${decision.reply?.enhanced}` : "pass";
}

test("SlidingWindow.take() allows `limit` events per window and refuses the next", () => {
  let now = 0;
  const window = new SlidingWindow({ limit: 3, windowMs: 1000, maxKeys: 10, now: () => now });
  assert.deepEqual([1, 2, 3, 4].map(() => window.take("a")), [true, true, true, false]);
  assert.equal(window.take("b"), true, "another key has its own count");
  now = 999;
  assert.equal(window.take("a"), false, "still inside the same window");
});

test("SlidingWindow.take() weighs the previous window by its overlap", () => {
  let now = 0;
  const window = new SlidingWindow({ limit: 4, windowMs: 1000, maxKeys: 10, now: () => now });
  for (let i = 0; i < 4; i++) assert.equal(window.take("a"), true);
  // Half a window later, half of the previous window's 4 still count: room for 2.
  now = 1500;
  assert.deepEqual([1, 2, 3].map(() => window.take("a")), [true, true, false]);
  // Two whole windows of silence forget everything.
  now = 3600;
  assert.deepEqual([1, 2, 3, 4, 5].map(() => window.take("a")), [true, true, true, true, false]);
});

test("SlidingWindow.take() does not count refused events", () => {
  let now = 0;
  const window = new SlidingWindow({ limit: 2, windowMs: 1000, maxKeys: 10, now: () => now });
  window.take("a");
  window.take("a");
  for (let i = 0; i < 50; i++) assert.equal(window.take("a"), false);
  now = 2000; // the previous window held only the 2 allowed events, and now weighs 0
  assert.equal(window.take("a"), true);
});

test("SlidingWindow.take() remembers at most maxKeys keys, forgetting the least recent", () => {
  const window = new SlidingWindow({ limit: 1, windowMs: 1000, maxKeys: 3, now: () => 0 });
  for (let i = 0; i < 1000; i++) window.take(`10.0.${i >> 8}.${i & 255}`);
  assert.equal(window.size, 3);
  window.take("k1");
  window.take("k2");
  window.take("k1"); // refused, and now the most recent
  window.take("k3");
  window.take("k4"); // evicts k2, the least recently seen
  assert.equal(window.take("k1"), false, "k1 is still remembered");
  assert.equal(window.take("k2"), true, "k2 was forgotten");
});

test("rateLimit() answers 421 4.7.0 at connect past connections_per_minute", async () => {
  let now = 0;
  const plugin = rateLimit({ connectionsPerMinute: 2, now: () => now });
  assert.equal(await connect(plugin, "192.0.2.1"), "pass");
  assert.equal(await connect(plugin, "192.0.2.1"), "pass");
  assert.equal(await connect(plugin, "192.0.2.1"), "disconnect 421 4.7.0");
  assert.equal(await connect(plugin, "::ffff:192.0.2.1"), "disconnect 421 4.7.0", "mapped IPv4");
  assert.equal(await connect(plugin, "192.0.2.2"), "pass");
  now = 120_000;
  assert.equal(await connect(plugin, "192.0.2.1"), "pass");
});

test("rateLimit() answers 452 4.7.0 at MAIL past messages_per_minute", async () => {
  const plugin = rateLimit({ messagesPerMinute: 3, now: () => 0 });
  const got = [];
  for (let i = 0; i < 4; i++) got.push(await mail(plugin, "2001:db8::1"));
  assert.deepEqual(got, ["pass", "pass", "pass", "tempfail 452 4.7.0"]);
  assert.equal(await connect(plugin, "2001:db8::1"), "pass", "connections are counted apart");
});

test("rateLimit() never limits exempt networks, and 0 turns a limit off", async () => {
  const plugin = rateLimit({
    connectionsPerMinute: 1,
    messagesPerMinute: 0,
    exempt: ["10.0.0.0/8"],
    now: () => 0,
  });
  for (let i = 0; i < 5; i++) assert.equal(await connect(plugin, "10.1.2.3"), "pass");
  for (let i = 0; i < 5; i++) assert.equal(await mail(plugin, "192.0.2.9"), "pass");
  assert.equal(await connect(plugin, "192.0.2.9"), "pass");
  assert.equal(await connect(plugin, "192.0.2.9"), "disconnect 421 4.7.0");
});

test("rateLimit() defaults let a loopback test suite through but stop a flood", async () => {
  const plugin = rateLimit({ now: () => 0 });
  const results = [];
  for (let i = 0; i <= RATE_LIMIT_DEFAULTS.connectionsPerMinute; i++) {
    results.push(await connect(plugin, "127.0.0.1"));
  }
  assert.equal(results.filter((r) => r === "pass").length, 600);
  assert.equal(results.at(-1), "disconnect 421 4.7.0");
});

test("rateLimitFromHost() reads the TOML table and refuses bad options", async () => {
  const plugin = rateLimitFromHost({
    options: { connections_per_minute: 1, messages_per_minute: 1n, exempt: ["10.0.0.0/8"] },
  });
  assert.equal(plugin.name, "rate_limit");
  assert.equal(await connect(plugin, "192.0.2.1"), "pass");
  assert.equal(await connect(plugin, "192.0.2.1"), "disconnect 421 4.7.0");
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ per_minute: 1 }, /unknown option "per_minute"/],
    [{ connections_per_minute: -1 }, /connectionsPerMinute must be 0 or a positive integer/],
    [{ messages_per_minute: "many" }, /messages_per_minute must be an integer/],
    [{ max_tracked: 0 }, /maxTracked must be a positive integer/],
    [{ exempt: "10.0.0.0/8" }, /exempt must be an array/],
    [{ exempt: ["10.0.0.0/33"] }, /"10\.0\.0\.0\/33" is not an address\/prefix/],
  ];
  for (const [options, error] of bad) {
    assert.throws(() => rateLimitFromHost({ options }), error, JSON.stringify(options, replacer));
  }
});

function replacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? String(value) : value;
}
