import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { maildirPath, MaildirWriter } from "../delivery/maildir.ts";
import {
  countMessages,
  decodeSegment,
  isMailboxAddress,
  isMessageId,
  listMailboxes,
  listMessages,
  mailboxExists,
  readMessage,
} from "./maildir_reader.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function message(subject: string): Uint8Array {
  return bytes(
    `From: =?UTF-8?Q?Ren=C3=A9?= <rene@example.org>\r\nTo: alice@example.org\r\n` +
      `Subject: ${subject}\r\n  continued\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n` +
      `Message-ID: <${subject}@example.org>\r\n\r\nSubject: body line\r\n`,
  );
}

async function fixture(): Promise<string> {
  const root = join(mkdtempSync(join(tmpdir(), "maildir-reader-")), "mail");
  const writer = new MaildirWriter(root, "mx.test");
  const one = await writer.deliver("alice@example.org", "Q1", message("one"));
  const two = await writer.deliver("alice@example.org", "Q2", message("two"));
  await writer.deliver("odd/.name%@example.org", "Q3", message("three"));
  // Times decide the order, not names: make Q2 older than Q1.
  utimesSync(one.path, 2000, 2000);
  utimesSync(two.path, 1000, 1000);
  // A message that a reader already saw lives in cur/ with flags.
  const dir = maildirPath(root, "alice@example.org");
  writeFileSync(join(dir, "cur", "Q0.abc.mx.test:2,S"), message("seen"));
  utimesSync(join(dir, "cur", "Q0.abc.mx.test:2,S"), 3000, 3000);
  return root;
}

test("decodeSegment() reverses safeSegment()", () => {
  assert.equal(decodeSegment("odd%2f%2ename%25"), "odd/.name%");
  assert.equal(decodeSegment("%2ehidden"), ".hidden");
  assert.equal(decodeSegment("plain"), "plain");
});

test("listMailboxes() lists every mailbox with new+cur counts, decoded", async () => {
  const root = await fixture();
  mkdirSync(join(root, "example.org", "empty", "new"), { recursive: true });
  mkdirSync(join(root, "example.org", "not-a-maildir"), { recursive: true });
  assert.deepEqual(await listMailboxes(root), [
    { address: "alice@example.org", messages: 3 },
    { address: "empty@example.org", messages: 0 },
    { address: "odd/.name%@example.org", messages: 1 },
  ]);
  assert.deepEqual(await listMailboxes(join(root, "missing")), []);
});

test("listMessages() is newest first with decoded, unfolded header fields", async () => {
  const root = await fixture();
  const list = await listMessages(root, "alice@example.org");
  assert.deepEqual(list.map((m) => [m.folder, m.subject]), [
    ["cur", "seen  continued"],
    ["new", "one  continued"],
    ["new", "two  continued"],
  ]);
  const first = list[0]!;
  assert.equal(first.id, "Q0.abc.mx.test:2,S");
  assert.equal(first.from, "René <rene@example.org>");
  assert.equal(first.to, "alice@example.org");
  assert.equal(first.date, "Mon, 1 Jan 2024 10:00:00 +0000");
  assert.equal(first.messageId, "<seen@example.org>");
  assert.equal(first.receivedAt, 3_000_000);
  assert.equal(first.size, message("seen").byteLength);
});

test("listMessages() pages with limit and offset", async () => {
  const root = await fixture();
  const page = await listMessages(root, "alice@example.org", { limit: 1, offset: 1 });
  assert.deepEqual(page.map((m) => m.subject), ["one  continued"]);
  assert.deepEqual(await listMessages(root, "alice@example.org", { offset: 5 }), []);
  assert.deepEqual(await listMessages(root, "nobody@example.org"), []);
  assert.equal(await countMessages(root, "alice@example.org"), 3);
  assert.equal(await countMessages(root, "nobody@example.org"), 0);
  assert.equal(await countMessages(root, "../x@y"), 0);
});

test("readMessage() returns the bytes from new/ or cur/", async () => {
  const root = await fixture();
  const [seen, one] = await listMessages(root, "alice@example.org");
  assert.deepEqual(await readMessage(root, "alice@example.org", seen!.id), message("seen"));
  assert.deepEqual(await readMessage(root, "alice@example.org", one!.id), message("one"));
  const [odd] = await listMessages(root, "odd/.name%@example.org");
  assert.deepEqual(await readMessage(root, "odd/.name%@example.org", odd!.id), message("three"));
  assert.equal(await readMessage(root, "alice@example.org", "Q9.nothing"), undefined);
});

test("readMessage() and listMessages() cannot leave the mailbox", async () => {
  const root = await fixture();
  // A secret next to the mail root and one inside another mailbox.
  writeFileSync(join(root, "..", "secret"), "secret");
  const [bobFile] = await listMessages(root, "odd/.name%@example.org");
  const bad = [
    "../secret",
    "../../secret",
    "..%2f..%2fsecret",
    "%2e%2e%2fsecret",
    "/etc/passwd",
    join(root, "..", "secret"),
    "new/../../secret",
    "Q1\0.x",
    ".hidden",
    "",
    "a\\b",
  ];
  for (const id of bad) {
    assert.equal(isMessageId(id), false, id);
    assert.equal(await readMessage(root, "alice@example.org", id), undefined, id);
  }
  // Addresses: separators and dots are escaped into one segment, so these
  // name mailboxes that do not exist instead of walking the tree.
  for (const address of ["../..@x", "..@..", "a@../example.org", "/etc@passwd", "a%2f..@b"]) {
    assert.equal(await readMessage(root, address, bobFile!.id), undefined, address);
    assert.deepEqual(await listMessages(root, address), [], address);
    assert.equal(await mailboxExists(root, address), false, address);
  }
  for (const address of ["a\0b@example.org", "@example.org", "alice@", "noat", ""]) {
    assert.equal(isMailboxAddress(address), false, JSON.stringify(address));
    assert.deepEqual(await listMessages(root, address), []);
    assert.equal(await readMessage(root, address, bobFile!.id), undefined);
  }
  assert.equal(await mailboxExists(root, "alice@example.org"), true);
});
