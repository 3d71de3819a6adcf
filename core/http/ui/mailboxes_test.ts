import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { maildirPath } from "../../delivery/maildir.ts";
import { type TestApp, testApp } from "./test_deps.ts";

const MESSAGE = [
  'From: "Mallory <script>" <m@example.net>',
  "Subject: <img src=x onerror=alert(1)> hello",
  "",
  "<script>alert(2)</script>",
  "",
].join("\r\n");

function deliver(t: TestApp, address: string, id: string, text: string): void {
  const dir = maildirPath(t.deps.mailRoot, address);
  for (const folder of ["new", "cur", "tmp"]) mkdirSync(join(dir, folder), { recursive: true });
  writeFileSync(join(dir, "new", id), text);
}

test("GET /mailboxes lists each mailbox with its message count", async () => {
  const t = await testApp();
  try {
    assert.match(await (await t.browse("/mailboxes")).text(), /No mailbox has received mail yet/);
    deliver(t, "alice@example.org", "1700000000.M1P1.host", MESSAGE);
    deliver(t, "alice@example.org", "1700000001.M2P1.host", "Subject: two\r\n\r\nx\r\n");
    const page = await (await t.browse("/mailboxes")).text();
    assert.match(page, /<a href="\/mailboxes\/alice%40example\.org">alice@example\.org<\/a>/);
    assert.match(page, /<td class="num">2<\/td>/);
  } finally {
    t.close();
  }
});

test("GET /mailboxes/:address lists messages with From and Subject escaped", async () => {
  const t = await testApp();
  try {
    deliver(t, "alice@example.org", "1700000000.M1P1.host", MESSAGE);
    const page = await (await t.browse("/mailboxes/alice%40example.org")).text();
    assert.doesNotMatch(page, /<script>|<img/);
    assert.match(page, /&quot;Mallory &lt;script&gt;&quot; &lt;m@example\.net&gt;/);
    assert.match(
      page,
      /href="\/mailboxes\/alice%40example\.org\/1700000000\.M1P1\.host">&lt;img src=x/,
    );
    assert.equal((await t.browse("/mailboxes/nobody%40example.org")).status, 404);
  } finally {
    t.close();
  }
});

test("GET /mailboxes/:address/:id shows the message escaped; bad ids and paths are 404", async () => {
  const t = await testApp();
  try {
    deliver(t, "alice@example.org", "1700000000.M1P1.host", MESSAGE);
    const response = await t.browse("/mailboxes/alice%40example.org/1700000000.M1P1.host");
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.match(page, /&lt;script&gt;alert\(2\)&lt;\/script&gt;/);
    assert.doesNotMatch(page, /<script>alert|<img/);
    for (
      const path of [
        "/mailboxes/alice%40example.org/..%2F..%2Fpostino.db",
        "/mailboxes/alice%40example.org/nope",
      ]
    ) {
      assert.equal((await t.browse(path)).status, 404, path);
    }
  } finally {
    t.close();
  }
});
