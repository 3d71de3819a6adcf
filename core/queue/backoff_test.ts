import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_RETRY, retryDelay } from "./backoff.ts";
import { ManualClock } from "./clock.ts";

const MIN = 60_000;

test("retryDelay() starts near 5 minutes, doubles, and caps at an hour", () => {
  const exact = { ...DEFAULT_RETRY, jitter: 0 };
  assert.deepEqual([1, 2, 3, 4, 5, 6, 20].map((n) => retryDelay(n, exact) / MIN), [
    5,
    10,
    20,
    40,
    60,
    60,
    60,
  ]);
});

test("retryDelay() spreads retries by the jitter fraction", () => {
  assert.equal(retryDelay(1, DEFAULT_RETRY, () => 0), 4 * MIN);
  assert.equal(retryDelay(1, DEFAULT_RETRY, () => 1), 6 * MIN);
  assert.equal(retryDelay(1, DEFAULT_RETRY, () => 0.5), 5 * MIN);
});

test("ManualClock.advance() fires timers in time order and moves now", () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  clock.after(300, () => fired.push(`b@${clock.now()}`));
  clock.after(100, () => {
    fired.push(`a@${clock.now()}`);
    clock.after(100, () => fired.push(`c@${clock.now()}`));
  });
  const cancelled = clock.after(50, () => fired.push("never"));
  clock.cancel(cancelled);
  clock.advance(250);
  assert.deepEqual(fired, ["a@100", "c@200"]);
  assert.equal(clock.now(), 250);
  clock.advance(100);
  assert.deepEqual(fired, ["a@100", "c@200", "b@300"]);
});
