import assert from "node:assert/strict";
import { test } from "node:test";
import { CONTENT_SECURITY_POLICY } from "./layout.ts";
import { queuedMessage, testApp } from "./test_deps.ts";

const PAGES = ["/", "/queue", "/queue/Q1", "/mailboxes", "/users", "/events", "/terminal"];

test("every page is HTML under the CSP, with no inline script, style or handler", async () => {
  const t = await testApp();
  try {
    await t.spool.put(queuedMessage("Q1", "Subject: hi\r\n\r\nx\r\n", ["a@far.example"]));
    await t.directory.addUser("alice@example.org");
    for (const path of ["/login", ...PAGES]) {
      const response = await t.browse(path);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get("content-type") ?? "", /^text\/html/, path);
      assert.equal(response.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY, path);
      assert.equal(response.headers.get("cache-control"), "no-store", path);
      const page = await response.text();
      assert.doesNotMatch(page, /<script(?![^>]*\ssrc=)[^>]*>/, `${path}: inline script`);
      assert.doesNotMatch(page, /<style|\sstyle=/, `${path}: inline style`);
      assert.doesNotMatch(page, /\son[a-z]+=/, `${path}: inline handler`);
    }
  } finally {
    t.close();
  }
});

test("every page needs the session: without it, a redirect to the login form", async () => {
  const t = await testApp();
  try {
    for (const path of PAGES) {
      const response = await t.app.fetch(new Request(`http://127.0.0.1:8025${path}`));
      assert.equal(response.status, 303, path);
      assert.match(response.headers.get("location") ?? "", /^\/login\?next=/, path);
    }
  } finally {
    t.close();
  }
});
