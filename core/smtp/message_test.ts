import { test } from "node:test";
import assert from "node:assert/strict";
import { concatBytes, Message } from "./message.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parse(text: string): Message {
  return Message.parse(encoder.encode(text));
}

function text(message: Message): string {
  return decoder.decode(message.toBytes());
}

const SAMPLE = "Received: from a\r\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
  "Subject: hello\r\n world\r\n" +
  "X-Tag: one\r\n" +
  "x-tag: two\r\n" +
  "From : a@example.org\r\n" +
  "\r\n" +
  "Body line\r\n";

test("Message.parse() splits header fields and body", () => {
  const message = parse(SAMPLE);
  assert.deepEqual(message.headerNames, ["Received", "Subject", "X-Tag", "x-tag", "From"]);
  assert.equal(decoder.decode(message.body), "Body line\r\n");
});

test("Message.get() and getAll() match names case-insensitively and unfold values", () => {
  const message = parse(SAMPLE);
  assert.equal(message.get("subject"), "hello world");
  assert.equal(message.get("RECEIVED"), "from a by b; Mon, 1 Jan 2024 00:00:00 +0000");
  assert.equal(message.get("From"), "a@example.org");
  assert.deepEqual(message.getAll("X-TAG"), ["one", "two"]);
  assert.equal(message.get("X-Tag"), "one");
  assert.equal(message.get("Missing"), undefined);
  assert.deepEqual(message.getAll("Missing"), []);
});

test("Message.toBytes() returns untouched input byte for byte, 8-bit bytes included", () => {
  const bytes = concatBytes([
    encoder.encode("Subject: caf"),
    new Uint8Array([0xe9, 0xff, 0x80]),
    encoder.encode("\r\n  folded\r\nX:\r\n\r\n"),
    new Uint8Array([0x00, 0xfe, 0x0d, 0x0a, 0x2e, 0x0a, 0x0d]),
  ]);
  const message = Message.parse(bytes);
  assert.deepEqual(message.headerNames, ["Subject", "X"]);
  assert.deepEqual(message.toBytes(), bytes);
  assert.equal(message.size, bytes.byteLength);
});

test("Message.parse() round-trips messages without a usual header/body split", () => {
  const cases: [string, string[], string][] = [
    // RFC 5322 §3.5: a message may be header fields with no body at all.
    ["Subject: only\r\nFrom: a@b\r\n", ["Subject", "From"], ""],
    ["plain text, no header\r\nsecond line\r\n", [], "plain text, no header\r\nsecond line\r\n"],
    [
      "Subject: x\r\nno colon here\r\n\r\nbody\r\n",
      [],
      "Subject: x\r\nno colon here\r\n\r\nbody\r\n",
    ],
    ["\r\nbody only\r\n", [], "body only\r\n"],
    ["Subject: unterminated", [], "Subject: unterminated"],
    ["", [], ""],
  ];
  for (const [input, names, body] of cases) {
    const message = parse(input);
    assert.deepEqual(message.headerNames, names, JSON.stringify(input));
    assert.equal(decoder.decode(message.body), body, JSON.stringify(input));
    assert.equal(text(message), input, JSON.stringify(input));
    assert.equal(message.size, encoder.encode(input).byteLength);
  }
  assert.equal(parse("Subject: only\r\nFrom: a@b\r\n").get("from"), "a@b");
});

test("Message.prepend() and append() add fields at the top and bottom", () => {
  const message = parse("A: 1\r\n\r\nbody\r\n");
  message.prepend("Received", "from x by y");
  message.append("X-Spam", "no");
  assert.equal(text(message), "Received: from x by y\r\nA: 1\r\nX-Spam: no\r\n\r\nbody\r\n");
  assert.equal(message.size, message.toBytes().byteLength);
});

test("Message.set() replaces the first field, drops later ones, or appends", () => {
  const message = parse("A: 1\r\nB: x\r\nb: y\r\nC: 3\r\n\r\nbody");
  message.set("B", "new");
  assert.equal(text(message), "A: 1\r\nB: new\r\nC: 3\r\n\r\nbody");
  message.set("D", "4");
  assert.equal(text(message), "A: 1\r\nB: new\r\nC: 3\r\nD: 4\r\n\r\nbody");
  assert.equal(message.size, message.toBytes().byteLength);
});

test("Message.remove() removes every field of that name and counts them", () => {
  const message = parse(SAMPLE);
  assert.equal(message.remove("x-tag"), 2);
  assert.equal(message.remove("x-tag"), 0);
  assert.deepEqual(message.headerNames, ["Received", "Subject", "From"]);
  assert.equal(message.size, message.toBytes().byteLength);
  assert.ok(text(message).endsWith("From : a@example.org\r\n\r\nBody line\r\n"));
});

test("Message.set() cannot inject a header line through CR or LF in a value", () => {
  const values = [
    "hi\r\nBcc: evil@example.org",
    "hi\nBcc: evil@example.org",
    "hi\rBcc: evil@example.org",
    "hi\r\n\r\nBcc: evil@example.org",
    "hi\n\nBcc: evil@example.org",
    "hi\r\r\nBcc: evil@example.org",
    "hi\n Bcc: evil@example.org",
    "hi\r\n",
  ];
  for (const value of values) {
    const message = parse("From: a@b\r\n\r\nbody\r\n");
    message.set("Subject", value);
    const out = text(message);
    const label = JSON.stringify(value);
    // Every CR and LF on the wire is part of a CRLF pair (RFC 5322 §2.3).
    assert.doesNotMatch(out, /\r(?!\n)|(?<!\r)\n/, label);
    const again = parse(out);
    assert.deepEqual(again.headerNames, ["From", "Subject"], label);
    assert.equal(decoder.decode(again.body), "body\r\n", label);
    assert.equal(again.get("Subject")?.includes("\n"), false, label);
  }
  const folded = parse("A: 1\r\n\r\n");
  folded.append("Subject", "hi\r\nBcc: evil@example.org");
  assert.equal(folded.get("Subject"), "hi Bcc: evil@example.org");
});

test("Message.append() refuses an invalid header name", () => {
  const message = parse("A: 1\r\n\r\n");
  for (const name of ["", "Bad Name", "X:Y", "X\r\nY", "Ünicode"]) {
    assert.throws(() => message.append(name, "v"), TypeError, JSON.stringify(name));
  }
});

test("concatBytes() joins parts in order", () => {
  assert.deepEqual(
    concatBytes([new Uint8Array([1, 2]), new Uint8Array([]), new Uint8Array([3])]),
    new Uint8Array([1, 2, 3]),
  );
  assert.deepEqual(concatBytes([]), new Uint8Array([]));
});
