import assert from "node:assert/strict";
import { test } from "node:test";
import { APP_JS, sharedSource } from "./app_js.ts";
import { chartPoints, niceCeiling, rates, statsSample } from "./chart.ts";
import { eventSummary, eventTone, formatDuration } from "./format.ts";

test("APP_JS is valid JavaScript", () => {
  // Compiles without running: a syntax error throws here.
  assert.equal(typeof new Function(APP_JS), "function");
  assert.match(APP_JS, /const chartPoints = \(/);
});

test("sharedSource() gives the browser the same functions the server tests", () => {
  const load = new Function(
    `${sharedSource()}\nreturn { chartPoints, niceCeiling, rates, statsSample, eventSummary, eventTone, formatDuration };`,
  );
  const browser = load() as Record<string, (...args: unknown[]) => unknown>;
  const samples = [{ time: 0, accepted: 0 }, { time: 1000, accepted: 3 }];
  const body = { time: 5000, queue: { messages: 1 }, totals: { accepted: 2, delivered: 1 } };
  const pairs: [unknown, unknown][] = [
    [browser.chartPoints?.([1, 2, 3], 4, 90, 30, 3), chartPoints([1, 2, 3], 4, 90, 30, 3)],
    [browser.niceCeiling?.(37), niceCeiling(37)],
    [browser.rates?.(samples, "accepted"), rates(samples, "accepted")],
    [browser.statsSample?.(body, 1), statsSample(body, 1)],
    [browser.eventSummary?.({ a: "b c" }), eventSummary({ a: "b c" })],
    [browser.eventTone?.("reject", {}), eventTone("reject", {})],
    [browser.formatDuration?.(3725), formatDuration(3725)],
  ];
  for (const [got, expected] of pairs) assert.deepEqual(got, expected);
});
