import assert from "node:assert/strict";
import { test } from "node:test";
import { LoginLimiter } from "./login_limiter.ts";

function clock(start = 1_000_000) {
  const c = { now: start, tick: (ms: number) => void (c.now += ms) };
  return c;
}

test("LoginLimiter.failed() holds each answer longer, up to 5 s", () => {
  const time = clock();
  const limiter = new LoginLimiter({ maxFailures: 100, delayMs: 1000, now: () => time.now });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => limiter.failed("a")), [
    1000,
    2000,
    3000,
    4000,
    5000,
    5000,
  ]);
  assert.equal(limiter.failed("b"), 1000, "another client starts afresh");
});

test("LoginLimiter.retryAfter() refuses a client with too many recent failures until they age out", () => {
  const time = clock();
  const limiter = new LoginLimiter({ maxFailures: 3, windowMs: 60_000, now: () => time.now });
  for (let i = 0; i < 3; i++) {
    assert.equal(limiter.retryAfter("a"), 0);
    limiter.failed("a");
    time.tick(10_000);
  }
  // Failures at t0, t0+10s, t0+20s; now t0+30s: the first leaves the window at t0+60s.
  assert.equal(limiter.retryAfter("a"), 30_000);
  assert.equal(limiter.retryAfter("b"), 0, "only that client");
  time.tick(30_000);
  assert.equal(limiter.retryAfter("a"), 0);
});

test("LoginLimiter.succeeded() forgets the client's failures", () => {
  const limiter = new LoginLimiter({ maxFailures: 2 });
  limiter.failed("a");
  limiter.failed("a");
  assert.ok(limiter.retryAfter("a") > 0);
  limiter.succeeded("a");
  assert.equal(limiter.retryAfter("a"), 0);
  assert.equal(limiter.clients, 0);
});

test("LoginLimiter remembers at most maxClients, forgetting the least recent", () => {
  const limiter = new LoginLimiter({ maxFailures: 1, maxClients: 2 });
  limiter.failed("a");
  limiter.failed("b");
  limiter.failed("c");
  assert.equal(limiter.clients, 2);
  assert.equal(limiter.retryAfter("a"), 0, "a was forgotten");
  assert.ok(limiter.retryAfter("c") > 0);
});
