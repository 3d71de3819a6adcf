import assert from "node:assert/strict";
import { test } from "node:test";
import { testApp } from "./test_deps.ts";

test("GET /terminal lists users and warns while the terminal plugin is off", async () => {
  const t = await testApp();
  try {
    await t.directory.addUser("alice@example.org", { name: "Alice <A>" });
    const page = await (await t.browse("/terminal")).text();
    assert.match(page, /The terminal plugin is off/);
    assert.match(
      page,
      /<option value="alice@example\.org" >alice@example\.org \(Alice &lt;A&gt;\)<\/option>/,
    );
    assert.doesNotMatch(page, /id="terminal"/);
  } finally {
    t.close();
  }
});

test("GET /terminal?address= opens the stream of a known user only", async () => {
  const t = await testApp({ plugins: ["terminal"] });
  try {
    await t.directory.addUser("alice@example.org");
    const page = await (await t.browse("/terminal?address=alice%40example.org")).text();
    assert.doesNotMatch(page, /plugin is off/);
    assert.match(page, /data-terminal="\/api\/terminal\/alice%40example\.org"/);
    const unknown = await (await t.browse("/terminal?address=%3Cb%3E%40example.org")).text();
    assert.match(unknown, /There is no user &lt;b&gt;@example\.org/);
    assert.doesNotMatch(unknown, /data-terminal=/);
  } finally {
    t.close();
  }
});
