import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, formatFields, redactAuth } from "./log.ts";

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
