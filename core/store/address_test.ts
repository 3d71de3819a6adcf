import { test } from "node:test";
import assert from "node:assert/strict";
import { isValidMailboxAddress, normalizeAddress, splitAddress } from "./address.ts";

test("normalizeAddress() trims and lowercases both parts", () => {
  const cases: [string, string][] = [
    ["alice@example.com", "alice@example.com"],
    ["  Alice@Example.COM\t", "alice@example.com"],
    ["BOB+Tag@MAIL.Example.org", "bob+tag@mail.example.org"],
    ["ÜSER@BÜCHER.DE", "üser@bücher.de"],
    // NFD "u" + combining diaeresis becomes the single NFC code point.
    ["u\u0308@example.com", "\u00fc@example.com"],
    ["NoAt", "noat"],
  ];
  for (const [input, expected] of cases) {
    assert.equal(normalizeAddress(input), expected, input);
  }
});

test("splitAddress() splits at the last @", () => {
  assert.deepEqual(splitAddress("alice@example.com"), { local: "alice", domain: "example.com" });
  assert.deepEqual(splitAddress("a@b@example.com"), { local: "a@b", domain: "example.com" });
  assert.deepEqual(splitAddress("@example.com"), { local: "", domain: "example.com" });
  assert.deepEqual(splitAddress("alice@"), { local: "alice", domain: "" });
});

test("splitAddress() throws TypeError without @", () => {
  assert.throws(() => splitAddress("alice"), TypeError);
});

const VALID = [
  "alice@example.com",
  "a@b",
  "postmaster@localhost",
  "alice.smith@example.com",
  "alice+tag@example.com",
  "!#$%&'*+-/=?^_`{|}~@example.com",
  "user@sub-domain.example.com",
  "user@123.example",
  "x@a-b.c-d",
  "Alice@Example.COM",
  "用户@例子.广告",
  "josé@exämple.de",
  "ñandú@españa.es",
  `${"a".repeat(64)}@example.com`,
  `a@${"b".repeat(63)}.com`,
  `a@${Array(4).fill("c".repeat(63)).join(".")}`,
];

const INVALID = [
  "",
  "alice",
  "@example.com",
  "alice@",
  "@",
  "alice..smith@example.com",
  ".alice@example.com",
  "alice.@example.com",
  "alice@example..com",
  "alice@.example.com",
  "alice@example.com.",
  "ali ce@example.com",
  " alice@example.com",
  "alice@example.com ",
  "alice@exa mple.com",
  "ali\tce@example.com",
  "ali\u0000ce@example.com",
  "alice@exam\u0007ple.com",
  "ali\u007fce@example.com",
  "ali\r\nce@example.com",
  '"alice"@example.com',
  "alice@[192.0.2.1]",
  "a(b)@example.com",
  "a,b@example.com",
  "a<b>@example.com",
  "a@b@example.com",
  "alice@exam_ple.com",
  "alice@-example.com",
  "alice@example-.com",
  "alice@exa+mple.com",
  `${"a".repeat(65)}@example.com`,
  // 32 two-octet characters plus one more: 66 octets but only 33 code points.
  `${"é".repeat(33)}@example.com`,
  `a@${"b".repeat(64)}.com`,
  `a@${Array(5).fill("c".repeat(63)).join(".")}`,
  "alice@exam\u200bple.com",
];

test("isValidMailboxAddress() accepts dot-atom @ LDH domain addresses", () => {
  for (const address of VALID) {
    assert.equal(isValidMailboxAddress(address), true, address);
  }
});

test("isValidMailboxAddress() rejects malformed or oversized addresses", () => {
  for (const address of INVALID) {
    assert.equal(isValidMailboxAddress(address), false, JSON.stringify(address));
  }
});

test("isValidMailboxAddress() agrees with itself after normalizeAddress()", () => {
  for (const address of VALID) {
    assert.equal(isValidMailboxAddress(normalizeAddress(address)), true, address);
  }
});

test("isValidMailboxAddress() never accepts control characters or spaces (fuzz)", () => {
  // A deterministic generator, so a failure reproduces.
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  const alphabet = ["a", "Z", "9", ".", "@", "-", "+", " ", "\t", "\n", "\u0000", "é", '"'];
  let accepted = 0;
  for (let i = 0; i < 2000; i++) {
    let text = "";
    const length = 1 + (next() % 12);
    for (let j = 0; j < length; j++) text += alphabet[next() % alphabet.length];
    if (!isValidMailboxAddress(text)) continue;
    accepted++;
    assert.ok(
      ![" ", "\t", "\n", "\u0000", '"'].some((c) => text.includes(c)),
      JSON.stringify(text),
    );
    assert.doesNotMatch(text, /\.\.|^\.|\.@|@\.|\.$|@-|-\.|\.-|-$/, JSON.stringify(text));
  }
  assert.ok(accepted > 0, "the generator should produce some valid addresses");
});
