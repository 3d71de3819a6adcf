import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeEncodedWords } from "./encoded_words.ts";

const cases: [string, string, string][] = [
  ["plain text is untouched", "Hello there", "Hello there"],
  ["Q encoding with underscore", "=?UTF-8?Q?caf=C3=A9_au_lait?=", "café au lait"],
  ["B encoding", "=?utf-8?B?w6ljbGFpcg==?=", "éclair"],
  ["Latin-1 charset", "=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"],
  ["space between adjacent words is dropped", "=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"],
  ["space next to plain text is kept", "=?UTF-8?Q?a?= b", "a b"],
  ["language tag after the charset", "=?UTF-8*en?Q?hi?=", "hi"],
  ["unknown charset stays raw", "=?x-nope?Q?hi?=", "=?x-nope?Q?hi?="],
  ["bad base64 stays raw", "=?UTF-8?B?***?=", "=?UTF-8?B?***?="],
  ["bad Q escape stays raw", "=?UTF-8?Q?a=ZZ?=", "=?UTF-8?Q?a=ZZ?="],
  ["invalid UTF-8 stays raw", "=?UTF-8?Q?=FF?=", "=?UTF-8?Q?=FF?="],
];

for (const [name, input, expected] of cases) {
  test(`decodeEncodedWords() ${name}`, () => {
    assert.equal(decodeEncodedWords(input), expected);
  });
}
