import assert from "node:assert/strict";
import { test } from "node:test";
import type { HookContext } from "../core/hooks/plugin.ts";
import { parseMailbox } from "../core/smtp/address.ts";
import { ownsSender, senderLogin } from "./sender_login.ts";

const directory = {
  resolve: (address: string) =>
    address === "team@example.org"
      ? { mailboxes: ["alice@example.org", "bob@example.org"], remote: [], unknown: [] }
      : undefined,
  isUser: () => true,
};

function as(user: string | undefined): HookContext {
  return { connection: { user } } as unknown as HookContext;
}

test("ownsSender() allows the user's own address and aliases that deliver to them", () => {
  assert.equal(ownsSender(directory, "alice@example.org", "Alice@Example.org"), true);
  assert.equal(ownsSender(directory, "alice@example.org", "team@example.org"), true);
  assert.equal(ownsSender(directory, "carol@example.org", "team@example.org"), false);
  assert.equal(ownsSender(directory, "alice@example.org", "bob@example.org"), false);
});

test("senderLogin() refuses other senders with 553 5.7.1 only for authenticated sessions", async () => {
  const plugin = senderLogin({ directory });
  const bob = parseMailbox("bob@example.org") ?? null;
  const refused = await plugin.mail?.(as("alice@example.org"), bob, { smtputf8: false });
  assert.equal(refused?.reply?.code, 553);
  assert.equal(refused?.reply?.enhanced, "5.7.1");
  assert.equal(await plugin.mail?.(as(undefined), bob, { smtputf8: false }), undefined);
  assert.equal(await plugin.mail?.(as("alice@example.org"), null, { smtputf8: false }), undefined);
  const own = parseMailbox("alice@example.org") ?? null;
  assert.equal(await plugin.mail?.(as("alice@example.org"), own, { smtputf8: false }), undefined);
});
