import assert from "node:assert/strict";
import { test } from "node:test";
import { dotStuff, encodeXtext, hasEightBit, normalizeCrlf } from "./smtp_wire.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

test("normalizeCrlf() turns every bare CR and LF into CR LF and ends with CR LF", () => {
  const cases: [string, string][] = [
    ["", ""],
    ["a\r\n", "a\r\n"],
    ["a", "a\r\n"],
    ["a\nb\n", "a\r\nb\r\n"],
    ["a\rb", "a\r\nb\r\n"],
    ["a\r\r\nb\r\n", "a\r\n\r\nb\r\n"],
    ["a\n\rb\r\n", "a\r\n\r\nb\r\n"],
    ["\n", "\r\n"],
    ["\r", "\r\n"],
    ["x\r\n.\n", "x\r\n.\r\n"],
  ];
  for (const [input, want] of cases) {
    assert.equal(decode(normalizeCrlf(encode(input))), want, JSON.stringify(input));
  }
  const clean = encode("already\r\nclean\r\n");
  assert.equal(normalizeCrlf(clean), clean);
});

test("normalizeCrlf() never leaves a bare CR or LF, whatever the input", () => {
  for (let round = 0; round < 500; round++) {
    const bytes = Uint8Array.from(
      { length: round % 40 },
      () => [13, 10, 46, 97][Math.floor(Math.random() * 4)] as number,
    );
    const out = normalizeCrlf(bytes);
    for (let i = 0; i < out.byteLength; i++) {
      if (out[i] === 13) assert.equal(out[i + 1], 10);
      if (out[i] === 10) assert.equal(out[i - 1], 13);
    }
    if (out.byteLength > 0) assert.equal(decode(out.subarray(-2)), "\r\n");
  }
});

test("dotStuff() doubles a dot only at the start of a line", () => {
  const cases: [string, string][] = [
    ["", ""],
    ["no dots\r\n", "no dots\r\n"],
    [".\r\n", "..\r\n"],
    ["a.b\r\n.c\r\n..d\r\n", "a.b\r\n..c\r\n...d\r\n"],
    [".first\r\nmid.dle\r\n", "..first\r\nmid.dle\r\n"],
  ];
  for (const [input, want] of cases) assert.equal(decode(dotStuff(encode(input))), want);
});

test("encodeXtext() keeps printable ASCII except + and =, hex-escapes the rest", () => {
  assert.equal(encodeXtext("user@example.org"), "user@example.org");
  assert.equal(encodeXtext("a+b=c d"), "a+2Bb+3Dc+20d");
  assert.equal(encodeXtext("x\r\ny"), "x+0D+0Ay");
  assert.equal(encodeXtext("j\u00f6rg"), "j+C3+B6rg");
});

test("hasEightBit() spots any byte over 0x7f", () => {
  assert.equal(hasEightBit(encode("plain ascii\r\n")), false);
  assert.equal(hasEightBit(encode("caf\u00e9")), true);
  assert.equal(hasEightBit(new Uint8Array([0x7f, 0x80])), true);
});
