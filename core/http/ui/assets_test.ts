import assert from "node:assert/strict";
import { test } from "node:test";
import { APP_CSS } from "./app_css.ts";
import { APP_JS } from "./app_js.ts";
import { ORIGIN, testApp } from "./test_deps.ts";

test("/assets/* serves the compiled-in script, stylesheet and icon without a session", async () => {
  const t = await testApp();
  try {
    const cases: [string, RegExp, string | undefined][] = [
      ["/assets/app.js", /^text\/javascript/, APP_JS],
      ["/assets/app.css", /^text\/css/, APP_CSS],
      ["/assets/favicon.svg", /^image\/svg\+xml/, undefined],
    ];
    for (const [path, type, body] of cases) {
      const response = await t.app.fetch(new Request(ORIGIN + path));
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get("content-type") ?? "", type);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      const text = await response.text();
      if (body !== undefined) assert.equal(text, body);
    }
    assert.equal((await t.app.fetch(new Request(`${ORIGIN}/assets/nope.js`))).status, 404);
  } finally {
    t.close();
  }
});
