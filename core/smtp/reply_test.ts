import { test } from "node:test";
import assert from "node:assert/strict";
import { formatReply, isFailure, reply, SmtpError } from "./reply.ts";

test("formatReply() writes a one-line reply with its enhanced code", () => {
  assert.equal(formatReply(reply(250, "2.1.0", "Sender OK")), "250 2.1.0 Sender OK\r\n");
});

test("formatReply() writes a reply without an enhanced code", () => {
  assert.equal(formatReply(reply(220, "", "mx.example ESMTP")), "220 mx.example ESMTP\r\n");
  assert.equal(formatReply(reply(354, "", "Go ahead")), "354 Go ahead\r\n");
});

test("formatReply() writes multi-line replies with - continuations", () => {
  // RFC 5321 §4.2.1: every line but the last has "-" after the code.
  assert.equal(
    formatReply(reply(250, "", ["mx.example", "PIPELINING", "8BITMIME"])),
    "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
  );
  // RFC 2034 §4: the enhanced code repeats on every line.
  assert.equal(
    formatReply(reply(214, "2.0.0", ["Commands:", "HELO EHLO"])),
    "214-2.0.0 Commands:\r\n214 2.0.0 HELO EHLO\r\n",
  );
});

test("formatReply() writes a bare code for empty text", () => {
  assert.equal(formatReply(reply(250, "", [])), "250\r\n");
  assert.equal(formatReply(reply(250, "", "")), "250\r\n");
  assert.equal(formatReply(reply(250, "", ["", "x"])), "250-\r\n250 x\r\n");
  assert.equal(formatReply(reply(250, "2.0.0", "")), "250 2.0.0\r\n");
});

test("formatReply() neutralises CR and LF inside reply text", () => {
  const cases: [string, string][] = [
    ["bad\r\n250 OK", "550 5.1.1 bad 250 OK\r\n"],
    ["bad\n250 OK", "550 5.1.1 bad 250 OK\r\n"],
    ["bad\r250 OK", "550 5.1.1 bad 250 OK\r\n"],
    ["bad\r\n\r\n\n250 OK", "550 5.1.1 bad 250 OK\r\n"],
    ["trailing\r\n", "550 5.1.1 trailing\r\n"],
  ];
  for (const [text, wire] of cases) {
    assert.equal(formatReply(reply(550, "5.1.1", text)), wire, JSON.stringify(text));
  }
  const multi = formatReply(reply(250, "", ["a\r\nb", "c"]));
  assert.equal(multi, "250-a b\r\n250 c\r\n");
});

test("reply() wraps one line of text in an array", () => {
  assert.deepEqual(reply(421, "4.3.2", "Shutting down"), {
    code: 421,
    enhanced: "4.3.2",
    lines: ["Shutting down"],
  });
  assert.deepEqual(reply(250, "", ["a", "b"]).lines, ["a", "b"]);
});

test("SmtpError() carries the reply to send", () => {
  const error = new SmtpError(555, "5.5.4", "Unsupported parameter FOO");
  assert.ok(error instanceof Error);
  assert.equal(error.name, "SmtpError");
  assert.equal(error.message, "555 5.5.4 Unsupported parameter FOO");
  assert.deepEqual(error.reply, {
    code: 555,
    enhanced: "5.5.4",
    lines: ["Unsupported parameter FOO"],
  });
});

test("isFailure() is true for 4xx and 5xx only", () => {
  const cases: [number, boolean][] = [
    [220, false],
    [250, false],
    [354, false],
    [399, false],
    [421, true],
    [450, true],
    [550, true],
    [554, true],
  ];
  for (const [code, expected] of cases) {
    assert.equal(isFailure(reply(code, "", "x")), expected, String(code));
  }
});

test("formatReply() never echoes control characters back to the client", () => {
  assert.equal(
    formatReply(reply(504, "5.5.1", "No help for \x1b[1m\x7f\tok")),
    "504 5.5.1 No help for ?[1m?\tok\r\n",
  );
});
