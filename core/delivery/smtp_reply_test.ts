import assert from "node:assert/strict";
import { test } from "node:test";
import type { Conn } from "../runtime/conn.ts";
import {
  MAX_TEXT,
  parseReply,
  ReplyReader,
  sanitizeReplyText,
  SmtpClientError,
} from "./smtp_reply.ts";

/** A connection that plays `chunks`, then ends (or hangs when `hang`). */
function playback(chunks: string[], hang = false): Conn {
  const queue = chunks.map((c) => new TextEncoder().encode(c));
  return {
    remote: { address: "192.0.2.25", port: 25 },
    local: { address: "127.0.0.1", port: 40000 },
    read: () => {
      const next = queue.shift();
      if (next) return Promise.resolve(next);
      return hang ? new Promise(() => {}) : Promise.resolve(null);
    },
    write: () => Promise.resolve(),
    close() {},
    startTls: () => Promise.reject(new Error("no TLS here")),
    startTlsClient: () => Promise.reject(new Error("no TLS here")),
  };
}

test("parseReply() reads codes, enhanced codes and text, deriving C.0.0 when absent", () => {
  const cases: [string[], { code: number; enhanced: string; text: string }][] = [
    [["250 2.1.5 Ok"], { code: 250, enhanced: "2.1.5", text: "Ok" }],
    [["250 Ok"], { code: 250, enhanced: "2.0.0", text: "Ok" }],
    [["451 try later"], { code: 451, enhanced: "4.0.0", text: "try later" }],
    [["550"], { code: 550, enhanced: "5.0.0", text: "" }],
    [["550-5.1.1 The account", "550 5.1.1 does not exist"], {
      code: 550,
      enhanced: "5.1.1",
      text: "The account does not exist",
    }],
    // An enhanced code of the wrong class is text, not a status.
    [["550 2.0.0 odd"], { code: 550, enhanced: "5.0.0", text: "2.0.0 odd" }],
    [["421 4.03.002 zero-padded"], { code: 421, enhanced: "4.3.2", text: "zero-padded" }],
  ];
  for (const [lines, want] of cases) {
    const reply = parseReply(lines);
    assert.deepEqual(
      reply && { code: reply.code, enhanced: reply.enhanced, text: reply.text },
      want,
    );
  }
  for (const bad of [["hello"], ["25 short"], ["600 no such class"], ["250x"], []]) {
    assert.equal(parseReply(bad), undefined, JSON.stringify(bad));
  }
});

test("sanitizeReplyText() strips control and format characters and caps the length", () => {
  assert.equal(sanitizeReplyText("a\x00b\x1b[1mc\x7f\u202edone"), "a b [1mc done");
  assert.equal(sanitizeReplyText("  many    spaces\t\there "), "many spaces here");
  assert.equal(sanitizeReplyText("\u00fcber caf\u00e9"), "\u00fcber caf\u00e9");
  const long = sanitizeReplyText("x".repeat(5000));
  assert.equal(long.length, MAX_TEXT);
  assert.ok(long.endsWith("..."));
});

test("ReplyReader.read() joins multi-line replies split across chunks and keeps the rest", async () => {
  const reader = new ReplyReader(
    playback(["250-mx.example greets you\r\n250-PIPE", "LINING\r\n250 SIZE 1000\r\n220 next\n"]),
  );
  const ehlo = await reader.read(1000, "EHLO");
  assert.deepEqual(ehlo.lines, ["mx.example greets you", "PIPELINING", "SIZE 1000"]);
  // A bare LF ends a line too: we are lenient in what we read.
  assert.equal((await reader.read(1000, "next")).code, 220);
  assert.equal(reader.buffered, 0);
});

test("ReplyReader.read() fails temporarily on hang-up, garbage, endless lines and silence", async () => {
  const failure = (chunks: string[], hang = false) =>
    new ReplyReader(playback(chunks, hang)).read(50, "MAIL").then(() => undefined, (e) => e);
  const cases: [SmtpClientError | undefined, string, RegExp][] = [
    [await failure(["250-half"]), "4.4.2", /connection lost/],
    [await failure(["hello there\r\n"]), "4.5.0", /malformed/],
    [await failure(["250-continued\r\n", "junk\r\n"]), "4.5.0", /malformed/],
    [await failure(["2".repeat(20_000)]), "4.5.0", /too long/],
    [await failure([], true), "4.4.2", /timeout/],
  ];
  for (const [error, enhanced, text] of cases) {
    assert.ok(error instanceof SmtpClientError);
    assert.equal(error.permanent, false);
    assert.equal(error.enhanced, enhanced);
    assert.match(error.text, text);
  }
});
