import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { maildirPath, MaildirWriter, safeSegment } from "./maildir.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

test("MaildirWriter.deliver() writes into new/ through tmp/ with the exact bytes", async () => {
  const root = mkdtempSync(join(tmpdir(), "maildir-"));
  const writer = new MaildirWriter(root, "mx.test");
  const result = await writer.deliver("alice@example.org", "Q1", bytes("Subject: x\r\n\r\nhi\r\n"));
  assert.match(result.path, /new/);
  const dir = join(root, "example.org", "alice");
  for (const sub of ["tmp", "new", "cur"]) assert.ok(statSync(join(dir, sub)).isDirectory());
  assert.deepEqual(readdirSync(join(dir, "tmp")), []);
  const files = readdirSync(join(dir, "new"));
  assert.equal(files.length, 1);
  assert.match(files[0] as string, /^Q1\.[0-9a-f]{12}\.mx\.test$/);
  assert.equal(
    readFileSync(join(dir, "new", files[0] as string), "utf8"),
    "Subject: x\r\n\r\nhi\r\n",
  );
});

test("MaildirWriter.deliver() is idempotent for the same queue id and recipient", async () => {
  const root = mkdtempSync(join(tmpdir(), "maildir-"));
  const writer = new MaildirWriter(root, "mx.test");
  const first = await writer.deliver("bob@example.org", "Q2", bytes("one"));
  const again = await writer.deliver("bob@example.org", "Q2", bytes("one"));
  assert.equal(again.path, first.path);
  // A fresh writer (a restarted server) must not duplicate either.
  const third = await new MaildirWriter(root, "mx.test").deliver(
    "bob@example.org",
    "Q2",
    bytes("one"),
  );
  assert.equal(third.path, first.path);
  assert.equal(readdirSync(join(root, "example.org", "bob", "new")).length, 1);
  assert.deepEqual(readdirSync(join(root, "example.org", "bob", "tmp")), []);
  await writer.deliver("bob@example.org", "Q3", bytes("two"));
  assert.equal(readdirSync(join(root, "example.org", "bob", "new")).length, 2);
});

test("MaildirWriter.deliver() handles many concurrent deliveries into one folder", async () => {
  const root = mkdtempSync(join(tmpdir(), "maildir-"));
  const writer = new MaildirWriter(root, "mx.test");
  await Promise.all(
    Array.from(
      { length: 50 },
      (_, i) => writer.deliver("carol@example.org", `C${i}`, bytes(`m${i}`)),
    ),
  );
  const dir = join(root, "example.org", "carol", "new");
  const files = readdirSync(dir).sort();
  assert.equal(files.length, 50);
  const contents = new Set(files.map((f) => readFileSync(join(dir, f), "utf8")));
  assert.equal(contents.size, 50);
});

test("safeSegment() keeps path segments inside the mail root", () => {
  assert.equal(safeSegment("a/b"), "a%2fb");
  assert.equal(safeSegment(".."), "%2e.");
  assert.equal(safeSegment(".hidden"), "%2ehidden");
  assert.equal(safeSegment("x%y"), "x%25y");
  assert.equal(safeSegment("plain.name"), "plain.name");
  assert.equal(maildirPath("/r", "../../etc@x"), join("/r", "x", "%2e.%2f..%2fetc"));
});
