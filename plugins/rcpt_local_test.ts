import assert from "node:assert/strict";
import { test } from "node:test";
import type { DirectoryView } from "../core/hooks/host.ts";
import type { HookContext } from "../core/hooks/plugin.ts";
import type { Resolution } from "../core/store/directory.ts";
import { parseMailbox } from "../core/smtp/address.ts";
import { rcptLocal } from "./rcpt_local.ts";
import { relay } from "./relay.ts";

const CTX = {} as HookContext;
const isLocalDomain = (d: string) => d === "example.org";

function directory(table: Record<string, Resolution>): DirectoryView {
  return { resolve: (address) => table[address], isUser: (address) => address in table };
}

function rcpt(address: string) {
  const mailbox = parseMailbox(address);
  assert.ok(mailbox, address);
  return { mailbox, params: {} };
}

const plugin = rcptLocal({
  isLocalDomain,
  directory: directory({
    "alice@example.org": { mailboxes: ["alice@example.org"], remote: [], unknown: [] },
    "team@example.org": {
      mailboxes: ["alice@example.org"],
      remote: ["x@far.example"],
      unknown: [],
    },
    "ghost@example.org": { mailboxes: [], remote: [], unknown: ["nobody@example.org"] },
  }),
});

test("rcptLocal() accepts a local user", async () => {
  assert.equal((await plugin.rcpt?.(CTX, rcpt("alice@example.org")))?.kind, "accept");
});

test("rcptLocal() passes unknown local users and other domains to the next plugin", async () => {
  assert.equal(await plugin.rcpt?.(CTX, rcpt("bob@example.org")), undefined);
  assert.equal(await plugin.rcpt?.(CTX, rcpt("alice@far.example")), undefined);
});

test("rcptLocal() accepts an alias with remote members: they are forwarded", async () => {
  assert.equal((await plugin.rcpt?.(CTX, rcpt("team@example.org")))?.kind, "accept");
});

test("rcptLocal() refuses an alias that reaches no mailbox with 550 5.1.1", async () => {
  const decision = await plugin.rcpt?.(CTX, rcpt("ghost@example.org"));
  assert.equal(decision?.reply?.enhanced, "5.1.1");
});

function from(address: string, user?: string): HookContext {
  return { connection: { remote: { address, port: 1 }, user } } as unknown as HookContext;
}

test("relay() refuses non-local domains with 550 5.7.1 and passes local ones", async () => {
  const deny = relay({ isLocalDomain, networks: [] });
  const decision = await deny.rcpt?.(from("192.0.2.1"), rcpt("someone@far.example"));
  assert.equal(decision?.reply?.code, 550);
  assert.equal(decision?.reply?.enhanced, "5.7.1");
  assert.equal(await deny.rcpt?.(from("192.0.2.1"), rcpt("alice@example.org")), undefined);
});

test("relay() lets trusted networks and authenticated users relay", async () => {
  const trusted = relay({ isLocalDomain, networks: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"] });
  const far = rcpt("someone@far.example");
  assert.equal((await trusted.rcpt?.(from("10.9.8.7"), far))?.kind, "accept");
  assert.equal((await trusted.rcpt?.(from("::ffff:10.1.1.1"), far))?.kind, "accept");
  assert.equal((await trusted.rcpt?.(from("2001:db8::1"), far))?.kind, "accept");
  assert.equal((await trusted.rcpt?.(from("192.0.2.7"), far))?.kind, "accept");
  assert.equal((await trusted.rcpt?.(from("192.0.2.8"), far))?.kind, "reject");
  assert.equal((await trusted.rcpt?.(from("11.0.0.1"), far))?.kind, "reject");
  assert.equal((await trusted.rcpt?.(from("11.0.0.1", "alice@example.org"), far))?.kind, "accept");
});
