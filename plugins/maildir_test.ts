import assert from "node:assert/strict";
import { test } from "node:test";
import type { HookContext, Transaction } from "../core/hooks/plugin.ts";
import { parseMailbox } from "../core/smtp/address.ts";
import { Message } from "../core/smtp/message.ts";
import { maildir } from "./maildir.ts";

function transaction(sender: string | null, recipients: string[]): Transaction {
  return {
    id: "QID1",
    mode: "MAIL",
    sender: sender === null ? null : parseMailbox(sender) ?? null,
    params: { smtputf8: false },
    recipients: recipients.map((r) => ({ mailbox: parseMailbox(r)!, params: {} })),
  };
}

function context(t: Transaction): HookContext {
  return { transaction: t, log: { info() {}, warn() {} } } as unknown as HookContext;
}

const RESOLVE: Record<string, string[]> = {
  "alice@example.org": ["alice@example.org"],
  "team@example.org": ["alice@example.org", "bob@example.org"],
};

test("maildir() writes one copy per distinct mailbox with Return-Path and Delivered-To", async () => {
  const writes: [string, string, string][] = [];
  const plugin = maildir({
    directory: {
      resolve: (a) => ({ mailboxes: RESOLVE[a] ?? [], remote: [], unknown: [] }),
      isUser: () => true,
    },
    writer: {
      deliver: (mailbox, id, bytes) => {
        writes.push([mailbox, id, new TextDecoder().decode(bytes)]);
        return Promise.resolve({ path: "" });
      },
    },
  });
  const message = Message.parse(new TextEncoder().encode("Subject: s\r\n\r\nbody\r\n"));
  const decision = await plugin.queue?.(
    context(transaction("s@far.example", ["alice@example.org", "team@example.org"])),
    message,
  );
  assert.equal(decision?.kind, "accept");
  assert.deepEqual(writes.map((w) => w[0]).sort(), ["alice@example.org", "bob@example.org"]);
  const alice = writes.find((w) => w[0] === "alice@example.org");
  assert.equal(alice?.[1], "QID1");
  assert.equal(
    alice?.[2],
    "Return-Path: <s@far.example>\r\nDelivered-To: alice@example.org\r\nSubject: s\r\n\r\nbody\r\n",
  );
});

test("maildir() writes Return-Path: <> for the null sender", async () => {
  let stored = "";
  const plugin = maildir({
    directory: {
      resolve: () => ({ mailboxes: ["alice@example.org"], remote: [], unknown: [] }),
      isUser: () => true,
    },
    writer: {
      deliver: (_m, _id, bytes) => {
        stored = new TextDecoder().decode(bytes);
        return Promise.resolve({ path: "" });
      },
    },
  });
  await plugin.queue?.(
    context(transaction(null, ["alice@example.org"])),
    Message.parse(new Uint8Array()),
  );
  assert.match(stored, /^Return-Path: <>\r\n/);
});

test("maildir() passes when no recipient has a local mailbox, and fails when the disk does", async () => {
  const none = maildir({
    directory: { resolve: () => undefined, isUser: () => false },
    writer: { deliver: () => Promise.reject(new Error("must not write")) },
  });
  assert.equal(
    await none.queue?.(
      context(transaction("a@b.example", ["x@example.org"])),
      Message.parse(new Uint8Array()),
    ),
    undefined,
  );
  const broken = maildir({
    directory: {
      resolve: () => ({ mailboxes: ["alice@example.org"], remote: [], unknown: [] }),
      isUser: () => true,
    },
    writer: { deliver: () => Promise.reject(new Error("ENOSPC")) },
  });
  await assert.rejects(
    async () =>
      await broken.queue?.(
        context(transaction("a@b.example", ["alice@example.org"])),
        Message.parse(new Uint8Array()),
      ),
    /ENOSPC/,
  );
});
