import assert from "node:assert/strict";
import { test } from "node:test";
import { messageView, rawText } from "./message_view.ts";

const HOSTILE = [
  'From: "Eve <script>alert(1)</script>" <eve@example.net>',
  "Subject: =?utf-8?b?Q2Fmw6kgPGltZyBzcmM9eCBvbmVycm9yPWFsZXJ0KDEpPg==?=",
  "X-Long: one",
  "  two",
  "",
  "<script>alert(2)</script>",
  "",
].join("\r\n");

test("messageView() escapes header fields and the source", async () => {
  const page = String(await messageView(new TextEncoder().encode(HOSTILE), "/api/x?a=1&b=2"));
  assert.doesNotMatch(page, /<script>|<img/);
  assert.match(
    page,
    /<th scope="row">From<\/th>\s*<td>&quot;Eve &lt;script&gt;alert\(1\)&lt;\/script&gt;&quot; &lt;eve@example.net&gt;<\/td>/,
  );
  // The encoded-word is decoded, then escaped.
  assert.match(page, /<td>Café &lt;img src=x onerror=alert\(1\)&gt;<\/td>/);
  assert.match(page, /<td>one {2}two<\/td>/);
  assert.match(page, /<pre class="source" id="source">From: &quot;Eve &lt;script&gt;/);
  assert.match(page, /&lt;script&gt;alert\(2\)&lt;\/script&gt;/);
  assert.match(page, /href="\/api\/x\?a=1&amp;b=2"/);
});

test("messageView() says so when a message has no header fields", async () => {
  const page = String(await messageView(new TextEncoder().encode("\r\nbody only\r\n"), "/raw"));
  assert.match(page, /no header fields/);
});

test("rawText() cuts at the limit and replaces bad UTF-8", () => {
  assert.deepEqual(rawText(new Uint8Array([0x61, 0xff, 0x62])), { text: "a\uFFFDb", cut: false });
  assert.deepEqual(rawText(new TextEncoder().encode("abcdef"), 4), { text: "abcd", cut: true });
});
