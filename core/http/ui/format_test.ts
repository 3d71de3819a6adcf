import assert from "node:assert/strict";
import { test } from "node:test";
import { eventSummary, eventTone, formatBytes, formatDuration, formatTime } from "./format.ts";

test("formatBytes() picks the unit and keeps one decimal below 10", () => {
  const cases: [number, string][] = [
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [20 * 1024, "20 KiB"],
    [5 * 1024 * 1024, "5.0 MiB"],
    [-3, "0 B"],
    [Number.NaN, "0 B"],
  ];
  for (const [bytes, text] of cases) assert.equal(formatBytes(bytes), text, String(bytes));
});

test("formatDuration() shows the two largest units and drops a zero second one", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [42.9, "42s"],
    [60, "1m"],
    [192, "3m 12s"],
    [3600 + 61, "1h 1m"],
    [86_400 * 2 + 3600 * 4 + 5, "2d 4h"],
    [-5, "0s"],
  ];
  for (const [seconds, text] of cases) assert.equal(formatDuration(seconds), text, String(seconds));
});

test("formatTime() is UTC to the second", () => {
  assert.equal(formatTime(Date.UTC(2025, 0, 2, 12, 0, 5, 900)), "2025-01-02 12:00:05");
  assert.equal(formatTime(Number.NaN), "–");
});

test("eventSummary() quotes values with spaces, quotes or '=' and skips empty fields", () => {
  assert.equal(
    eventSummary({ id: "Q1", error: "no route", n: 2, tls: true, gone: undefined, none: null }),
    'id=Q1 error="no route" n=2 tls=true',
  );
  assert.equal(eventSummary({ a: 'say "hi"', b: "x=y", c: "" }), 'a="say \\"hi\\"" b="x=y" c=""');
  assert.equal(eventSummary({ list: [1, 2] }), "list=[1,2]");
});

test("eventTone() marks failures bad, partial deliveries warn and queued mail good", () => {
  assert.equal(eventTone("reject", {}), "bad");
  assert.equal(eventTone("delivery_error", {}), "bad");
  assert.equal(eventTone("attempted", { delivered: 1, deferred: 0, failed: 0 }), "good");
  assert.equal(eventTone("attempted", { delivered: 0, deferred: 2, failed: 0 }), "warn");
  assert.equal(eventTone("queued", {}), "good");
  assert.equal(eventTone("connect", {}), "info");
});
