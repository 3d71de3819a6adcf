import assert from "node:assert/strict";
import { test } from "node:test";
import { firstFields, headerFields } from "./header_fields.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

test("headerFields() unfolds, decodes and keeps order and repeats", () => {
  const fields = headerFields(bytes(
    "Received: one\r\nReceived: two\r\nSubject: a long\r\n\tfolded =?UTF-8?Q?v=C3=A9?=\r\n" +
      "\r\nBody: not a header\r\n",
  ));
  assert.deepEqual(fields, [
    { name: "Received", value: "one" },
    { name: "Received", value: "two" },
    { name: "Subject", value: "a long\tfolded vé" },
  ]);
});

test("headerFields() accepts bare LF and ignores lines that are not fields", () => {
  const fields = headerFields(bytes("From: a@b\nnot a field\n: empty name\nTo: c@d\n\nx: y\n"));
  assert.deepEqual(fields, [{ name: "From", value: "a@b" }, { name: "To", value: "c@d" }]);
});

test("firstFields() maps lower-cased names to the first value", () => {
  const map = firstFields(bytes("Subject: first\r\nsubject: second\r\nMessage-ID: <x@y>\r\n\r\n"));
  assert.equal(map.get("subject"), "first");
  assert.equal(map.get("message-id"), "<x@y>");
  assert.equal(map.get("from"), undefined);
});
