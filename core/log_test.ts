import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, formatFields, formatJson, isJournalStream, redactAuth } from "./log.ts";

test("formatFields() quotes values with spaces and drops undefined", () => {
  assert.equal(formatFields({ a: 1, b: "x y", c: undefined, d: true }), 'a=1 b="x y" d=true');
});

test("redactAuth() hides credentials", () => {
  assert.equal(redactAuth("AUTH PLAIN AGFsaWNlAHNlY3JldA==", false), "AUTH PLAIN ****");
  assert.equal(redactAuth("auth login YWxpY2U=", false), "auth login ****");
  assert.equal(redactAuth("AUTH LOGIN", false), "AUTH LOGIN");
  assert.equal(redactAuth("c2VjcmV0", true), "****");
  assert.equal(redactAuth("MAIL FROM:<a@b>", false), "MAIL FROM:<a@b>");
});

test("createLogger() writes events always and traces only when verbose", () => {
  const lines: string[] = [];
  const quiet = createLogger({ verbose: false, write: (l) => lines.push(l) });
  quiet.event("queued", { id: "Q1" });
  quiet.trace("c1", "<", "EHLO x");
  assert.equal(lines.length, 1);
  assert.match(lines[0] as string, /^\d{4}-\d\d-\d\dT\S+Z queued id=Q1$/);
  const loud = createLogger({ verbose: true, write: (l) => lines.push(l) });
  loud.trace("c1", "<", "EHLO x");
  assert.match(lines[1] as string, /trace conn=c1 < EHLO x$/);
});

const NOON = () => new Date("2025-01-02T12:00:00.000Z");

test("createLogger() text lines carry the time unless timestamps is false", () => {
  const lines: string[] = [];
  createLogger({ verbose: true, now: NOON, write: (l) => lines.push(l) }).event("queued", {
    id: "Q1",
  });
  const bare = createLogger({ verbose: true, timestamps: false, write: (l) => lines.push(l) });
  bare.event("queued", { id: "Q1", note: "two words" });
  bare.event("stopped", {});
  bare.trace("c1", ">", "250 ok");
  assert.deepEqual(lines, [
    "2025-01-02T12:00:00.000Z queued id=Q1",
    'queued id=Q1 note="two words"',
    "stopped",
    "trace conn=c1 > 250 ok",
  ]);
});

test("createLogger() json writes one object per line with time, event and the fields", () => {
  const lines: string[] = [];
  const log = createLogger({
    verbose: true,
    format: "json",
    // Ignored for JSON: a parser wants the time even under journald.
    timestamps: false,
    now: NOON,
    write: (l) => lines.push(l),
  });
  log.event("queued", { id: "Q1", size: 120, tls: true, skipped: undefined, text: 'a "b"\nc' });
  log.trace("c1", "<", "EHLO x");
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => !l.includes("\n")));
  assert.deepEqual(JSON.parse(lines[0] as string), {
    time: "2025-01-02T12:00:00.000Z",
    event: "queued",
    id: "Q1",
    size: 120,
    tls: true,
    text: 'a "b"\nc',
  });
  assert.deepEqual(Object.keys(JSON.parse(lines[0] as string)).slice(0, 2), ["time", "event"]);
  assert.deepEqual(JSON.parse(lines[1] as string), {
    time: "2025-01-02T12:00:00.000Z",
    event: "trace",
    conn: "c1",
    dir: "<",
    line: "EHLO x",
  });
});

test("formatJson() keeps time and event from being overwritten by fields", () => {
  assert.deepEqual(JSON.parse(formatJson("T", "reject", { event: "x", time: 5, ip: "::1" })), {
    time: "T",
    event: "reject",
    event_: "x",
    time_: 5,
    ip: "::1",
  });
});

test("isJournalStream() is true only when JOURNAL_STREAM names stdout", () => {
  const stdout = { dev: 15, ino: 2004465 };
  assert.equal(isJournalStream("15:2004465", stdout), true);
  assert.equal(isJournalStream(undefined, stdout), false);
  assert.equal(isJournalStream("", stdout), false);
  // Inherited from a parent whose stdout was the journal; ours is a pipe.
  assert.equal(isJournalStream("15:99", stdout), false);
  assert.equal(isJournalStream("15:2004465", undefined), false);
});
