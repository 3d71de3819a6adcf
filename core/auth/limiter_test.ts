import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthLimiter, DEFAULT_LIMITER, type LimiterOptions } from "./limiter.ts";

/** A limiter on a hand-driven clock. */
function setup(options: Partial<Omit<LimiterOptions, "now">> = {}) {
  const clock = { time: 1_000_000 };
  const limiter = new AuthLimiter({ ...options, now: () => clock.time });
  return { clock, limiter };
}

const MINUTE = 60_000;

test("DEFAULT_LIMITER holds the documented defaults", () => {
  assert.deepEqual(DEFAULT_LIMITER, {
    maxFailuresPerIp: 10,
    maxFailuresPerAccount: 5,
    windowMs: 15 * MINUTE,
    blockMs: 15 * MINUTE,
    baseDelayMs: 250,
    maxDelayMs: 5000,
    maxEntries: 10_000,
  });
  assert.ok(Object.isFrozen(DEFAULT_LIMITER));
});

test("AuthLimiter() rejects nonsensical limits", () => {
  const now = () => 0;
  const bad: Partial<Omit<LimiterOptions, "now">>[] = [
    { maxFailuresPerIp: 0 },
    { maxFailuresPerAccount: 1.5 },
    { maxEntries: 1 },
    { windowMs: -1 },
    { blockMs: Number.NaN },
    { baseDelayMs: Number.POSITIVE_INFINITY },
    { maxDelayMs: -5 },
  ];
  for (const options of bad) {
    assert.throws(() => new AuthLimiter({ ...options, now }), RangeError, JSON.stringify(options));
  }
});

test("failure() delays grow as base * 2^(n-1) and cap at maxDelayMs", () => {
  const { limiter } = setup({ maxFailuresPerIp: 100, maxFailuresPerAccount: 100 });
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) delays.push(limiter.failure("192.0.2.1", "alice").delayMs);
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
});

test("failure() without an account counts the IP only", () => {
  const { limiter } = setup();
  for (let i = 0; i < 9; i++) {
    assert.equal(limiter.failure("192.0.2.1", undefined).nowBlocked, false);
  }
  assert.equal(limiter.failure("192.0.2.1", undefined).nowBlocked, true);
  assert.equal(limiter.blocked("192.0.2.2").blocked, false);
});

test("failure() blocks an IP after maxFailuresPerIp across accounts (credential stuffing)", () => {
  const { clock, limiter } = setup();
  for (let i = 1; i <= 9; i++) {
    const result = limiter.failure("192.0.2.1", `user${i}`);
    assert.equal(result.nowBlocked, false, `failure ${i}`);
    assert.deepEqual(limiter.blocked("192.0.2.1", `user${i}`), { blocked: false });
    clock.time += 1000;
  }
  const tenth = limiter.failure("192.0.2.1", "user10");
  assert.deepEqual(tenth, { delayMs: 5000, nowBlocked: true });
  assert.deepEqual(limiter.blocked("192.0.2.1"), {
    blocked: true,
    retryAfterMs: 15 * MINUTE,
    scope: "ip",
  });
  // Any account from that IP is refused; the accounts themselves are not blocked.
  assert.equal(limiter.blocked("192.0.2.1", "someone-else").blocked, true);
  assert.deepEqual(limiter.blocked("198.51.100.7", "user1"), { blocked: false });
});

test("failure() blocks an account after maxFailuresPerAccount across IPs (distributed guessing)", () => {
  const { clock, limiter } = setup();
  for (let i = 1; i <= 4; i++) {
    assert.equal(limiter.failure(`203.0.113.${i}`, "alice").nowBlocked, false);
    clock.time += 1000;
  }
  assert.deepEqual(limiter.failure("203.0.113.5", "alice"), { delayMs: 4000, nowBlocked: true });
  assert.deepEqual(limiter.blocked("198.51.100.1", "alice"), {
    blocked: true,
    retryAfterMs: 15 * MINUTE,
    scope: "account",
  });
  // A fresh IP may still try other accounts, and the guessing IPs are not blocked.
  assert.deepEqual(limiter.blocked("198.51.100.1", "bob"), { blocked: false });
  assert.deepEqual(limiter.blocked("203.0.113.1"), { blocked: false });
});

test("blocked() compares accounts case-insensitively", () => {
  const { limiter } = setup();
  for (const name of ["Alice", "ALICE", "alice", "aLiCe", "alicE"]) {
    limiter.failure("192.0.2.1", name);
  }
  assert.equal(limiter.blocked("198.51.100.1", "AlIcE").blocked, true);
});

test("blocked() reports the remaining time, and the block expires after blockMs", () => {
  const { clock, limiter } = setup({ blockMs: 10 * MINUTE });
  for (let i = 0; i < 5; i++) limiter.failure("192.0.2.1", "alice");
  clock.time += 4 * MINUTE;
  assert.deepEqual(limiter.blocked("192.0.2.9", "alice"), {
    blocked: true,
    retryAfterMs: 6 * MINUTE,
    scope: "account",
  });
  clock.time += 6 * MINUTE - 1;
  assert.equal(limiter.blocked("192.0.2.9", "alice").blocked, true);
  clock.time += 1;
  assert.deepEqual(limiter.blocked("192.0.2.9", "alice"), { blocked: false });
  // The count starts afresh after the block: the next failure gets the base delay.
  assert.deepEqual(limiter.failure("192.0.2.9", "alice"), { delayMs: 250, nowBlocked: false });
});

test("failure() forgets failures older than windowMs", () => {
  const { clock, limiter } = setup({ windowMs: 10 * MINUTE });
  for (let i = 0; i < 4; i++) limiter.failure("192.0.2.1", "alice");
  clock.time += 10 * MINUTE;
  // The four old failures are gone: this is failure 1 again, not 5.
  assert.deepEqual(limiter.failure("192.0.2.1", "alice"), { delayMs: 250, nowBlocked: false });
  // A sliding window: failures spread out never add up to a block.
  for (let i = 0; i < 20; i++) {
    clock.time += 3 * MINUTE;
    assert.equal(limiter.failure("192.0.2.1", "alice").nowBlocked, false);
  }
  assert.deepEqual(limiter.blocked("192.0.2.1", "alice"), { blocked: false });
});

test("failure() while already blocked keeps the block and says so", () => {
  const { clock, limiter } = setup();
  for (let i = 0; i < 5; i++) limiter.failure("192.0.2.1", "alice");
  clock.time += MINUTE;
  assert.equal(limiter.failure("192.0.2.2", "alice").nowBlocked, true);
  const result = limiter.blocked("192.0.2.2", "alice");
  assert.deepEqual(result, { blocked: true, retryAfterMs: 14 * MINUTE, scope: "account" });
});

test("success() is never delayed and clears the account but not the IP", () => {
  const { limiter } = setup();
  for (let i = 0; i < 4; i++) limiter.failure("192.0.2.1", "alice");
  assert.equal(limiter.success("192.0.2.1", "ALICE"), undefined);
  // The account's count was cleared: four more failures do not block it...
  for (let i = 0; i < 4; i++) {
    assert.equal(limiter.failure("198.51.100.1", "alice").nowBlocked, false);
  }
  // ...but the first IP kept its four, so six more from it reach the IP limit of ten.
  for (let i = 0; i < 5; i++) {
    assert.equal(limiter.failure("192.0.2.1", `other${i}`).nowBlocked, false);
  }
  assert.equal(limiter.failure("192.0.2.1", "other5").nowBlocked, true);
  assert.equal(limiter.blocked("192.0.2.1").blocked, true);
});

test("success() does not lift an active block", () => {
  const { limiter } = setup();
  for (let i = 0; i < 5; i++) limiter.failure("192.0.2.1", "alice");
  limiter.success("192.0.2.2", "alice");
  assert.equal(limiter.blocked("192.0.2.2", "alice").blocked, true);
});

test("failure() evicts the least recently failed entries beyond maxEntries", () => {
  const { clock, limiter } = setup({ maxEntries: 100 });
  for (let i = 0; i < 5; i++) limiter.failure("192.0.2.1", "alice");
  assert.equal(limiter.blocked("192.0.2.2", "alice").blocked, true);
  for (let i = 0; i < 10_000; i++) {
    clock.time += 1;
    limiter.failure(`10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`, `user${i}`);
    assert.ok(limiter.size <= 100);
  }
  assert.equal(limiter.size, 100);
  // The oldest entries, alice's block among them, were evicted; the newest remain.
  assert.deepEqual(limiter.blocked("192.0.2.2", "alice"), { blocked: false });
  limiter.failure("10.0.39.15", "user9999");
  assert.equal(limiter.failure("10.0.39.15", "user9999").delayMs, 1000);
});

test("blocked() and success() drop entries that have nothing live left", () => {
  const { clock, limiter } = setup();
  limiter.failure("192.0.2.1", "alice");
  limiter.failure("192.0.2.2", "bob");
  assert.equal(limiter.size, 4);
  limiter.success("192.0.2.1", "alice");
  assert.equal(limiter.size, 3);
  clock.time += DEFAULT_LIMITER.windowMs;
  limiter.blocked("192.0.2.2", "bob");
  assert.equal(limiter.size, 1);
});

test("failure() counts IPv6 clients per /64", () => {
  const { limiter } = setup({ maxFailuresPerIp: 4, maxFailuresPerAccount: 100 });
  // Four spellings of addresses inside 2001:db8:1:2::/64.
  limiter.failure("2001:db8:1:2::1", "a");
  limiter.failure("2001:0DB8:0001:0002:ffff:ffff:ffff:ffff", "b");
  limiter.failure("[2001:db8:1:2:abcd::7]", "c");
  assert.equal(limiter.failure("2001:db8:1:2::1%eth0", "d").nowBlocked, true);
  assert.equal(limiter.blocked("2001:db8:1:2:dead:beef:0:1").blocked, true);
  assert.equal(limiter.blocked("2001:db8:1:3::1").blocked, false);
  assert.equal(limiter.blocked("2001:db8:1::1").blocked, false);
});

test("failure() counts IPv4-mapped IPv6 as the IPv4 address", () => {
  const { limiter } = setup({ maxFailuresPerIp: 3, maxFailuresPerAccount: 100 });
  limiter.failure("::ffff:192.0.2.1", "a");
  limiter.failure("::FFFF:c000:0201", "b");
  assert.equal(limiter.failure("192.0.2.1", "c").nowBlocked, true);
  assert.equal(limiter.blocked("::ffff:192.0.2.1").blocked, true);
  // Neighbouring IPv4 addresses are separate clients.
  assert.equal(limiter.blocked("192.0.2.2").blocked, false);
  assert.equal(limiter.blocked("::ffff:192.0.2.2").blocked, false);
});

test("failure() keys non-IP peers by their text", () => {
  const { limiter } = setup({ maxFailuresPerIp: 2, maxFailuresPerAccount: 100 });
  limiter.failure("unknown", "a");
  assert.equal(limiter.failure("UNKNOWN", "b").nowBlocked, true);
  assert.equal(limiter.blocked("/run/postino.sock").blocked, false);
});
