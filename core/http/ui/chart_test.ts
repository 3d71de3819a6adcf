import assert from "node:assert/strict";
import { test } from "node:test";
import { chartPoints, niceCeiling, rates, statsSample } from "./chart.ts";

const STATS = {
  time: "2025-01-02T12:00:00.000Z",
  uptimeSeconds: 10,
  connections: 1,
  queue: { messages: 4, held: 1, oldestAgeSeconds: 3 },
  totals: { connections: 9, accepted: 20, rejected: 1, delivered: 15, deferred: 2, bounced: 0 },
};

test("statsSample() reads the /api/stats shape with ISO, ms or seconds times", () => {
  const time = Date.UTC(2025, 0, 2, 12);
  assert.deepEqual(statsSample(STATS, 7), { time, accepted: 20, delivered: 15, queue: 4 });
  assert.equal(statsSample({ ...STATS, time: time }, 7)?.time, time);
  assert.equal(statsSample({ ...STATS, time: time / 1000 }, 7)?.time, time);
  assert.equal(statsSample({ ...STATS, time: undefined }, 7)?.time, 7);
});

test("statsSample() refuses bodies without the counters", () => {
  for (const body of [null, "x", {}, { ...STATS, totals: {} }, { ...STATS, queue: null }]) {
    assert.equal(statsSample(body, 0), undefined, JSON.stringify(body));
  }
});

test("rates() gives per-second deltas, 0 for resets and for no elapsed time", () => {
  const samples = [
    { time: 0, n: 0 },
    { time: 2000, n: 10 }, // 5/s
    { time: 3000, n: 10 }, // idle
    { time: 3500, n: 12 }, // 4/s
    { time: 4500, n: 3 }, // restarted: counts as 0
    { time: 4500, n: 9 }, // same instant: 0
  ];
  assert.deepEqual(rates(samples, "n"), [5, 0, 4, 0, 0]);
  assert.deepEqual(rates([], "n"), []);
  assert.deepEqual(rates([{ time: 0, n: 1 }], "n"), []);
});

test("niceCeiling() rounds up to 1, 2 or 5 times a power of ten", () => {
  const cases: [number, number][] = [
    [0, 1],
    [-4, 1],
    [Number.NaN, 1],
    [1, 1],
    [1.2, 2],
    [3, 5],
    [7, 10],
    [37, 50],
    [100, 100],
    [101, 200],
    [0.3, 1],
    [2500, 5000],
  ];
  for (const [value, nice] of cases) assert.equal(niceCeiling(value), nice, String(value));
});

test("chartPoints() puts the newest value at the right edge and clamps to the box", () => {
  assert.equal(chartPoints([0, 5, 10], 3, 100, 50, 10), "0,50 50,25 100,0");
  // Fewer values than slots: they sit at the right.
  assert.equal(chartPoints([10], 3, 100, 50, 10), "100,0");
  // More values than slots: the oldest fall off.
  assert.equal(chartPoints([1, 2, 3, 4], 2, 10, 10, 4), "0,2.5 10,0");
  // Out of range and non-finite values are clamped.
  assert.equal(chartPoints([-1, 99, Number.NaN], 3, 10, 10, 5), "0,10 5,0 10,10");
  assert.equal(chartPoints([1, 2], 1, 10, 10, 5), "");
  assert.equal(chartPoints([1, 2], 3, 10, 10, 0), "");
});
