import assert from "node:assert/strict";
import { test } from "node:test";
import { html } from "hono/html";
import { CONTENT_SECURITY_POLICY, layout, notice } from "./layout.ts";

test("layout() escapes the title and marks the current nav entry", async () => {
  const page = String(
    await layout({
      title: "<script>alert(1)</script>",
      active: "/queue",
      page: "queue",
      version: "1.0 <b>",
      body: html`<p id="body">${"<img src=x onerror=alert(1)>"}</p>`,
    }),
  );
  assert.match(page, /^\s*<!doctype html>/);
  assert.match(page, /<title>&lt;script&gt;alert\(1\)&lt;\/script&gt; · Postino<\/title>/);
  assert.match(page, /<p id="body">&lt;img src=x onerror=alert\(1\)&gt;<\/p>/);
  assert.match(page, /Postino 1.0 &lt;b&gt;/);
  assert.match(page, /<a href="\/queue" class="current" aria-current="page">Queue<\/a>/);
  assert.match(page, /<a href="\/users" class="" aria-current="false">Users<\/a>/);
  assert.match(page, /<script src="\/assets\/app.js" defer><\/script>/);
  assert.doesNotMatch(page, /<script>/);
});

test("CONTENT_SECURITY_POLICY allows our own files only, nothing inline", () => {
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'self'/);
  assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|\*/);
});

test("notice() is empty without text and escapes it otherwise", async () => {
  assert.equal(notice(undefined), "");
  assert.equal(notice(""), "");
  assert.equal(
    String(await notice("<b>no</b>", "error")),
    '<p class="notice error" role="alert">&lt;b&gt;no&lt;/b&gt;</p>',
  );
});
