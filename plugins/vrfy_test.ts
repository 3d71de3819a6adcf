import assert from "node:assert/strict";
import { test } from "node:test";
import type { Decision } from "../core/hooks/decision.ts";
import type { HookContext } from "../core/hooks/plugin.ts";
import type { DirectoryEntry } from "../core/store/directory.ts";
import { lookupAccess } from "./lookup_access.ts";
import {
  lookUp,
  type LookupDirectory,
  lookupDirectory,
  MAX_CANDIDATES,
  vrfy,
  vrfyFromHost,
} from "./vrfy.ts";

const USERS: DirectoryEntry[] = [
  { kind: "user", address: "alice@example.org", name: "Alice Liddell" },
  { kind: "user", address: "bob@example.org", name: undefined },
  { kind: "user", address: "bob@example.net", name: "Bob Two" },
  { kind: "user", address: "jsmith@example.org", name: "Joe Smith" },
  { kind: "user", address: "hsmith@example.org", name: "Harry Smith" },
  { kind: "user", address: "carol@far.example", name: "Carol Smith" },
  { kind: "alias", address: "team@example.org", private: false },
];

const isLocalDomain = (d: string) => d === "example.org" || d === "example.net";

function fakeDirectory(entries: readonly DirectoryEntry[] = USERS): LookupDirectory {
  const sorted = [...entries].sort((a, b) => a.address.localeCompare(b.address));
  return {
    entry: (address) => sorted.find((e) => e.address === address.toLowerCase()),
    findByLocalPart: (local) =>
      sorted.filter((e) => e.address.startsWith(`${local.toLowerCase()}@`)),
    findByName: (fragment) =>
      sorted.filter((e) =>
        e.kind === "user" && e.name?.toLowerCase().includes(fragment.toLowerCase())
      ),
    aliasMembers: () => undefined,
  };
}

const CTX = {
  connection: { remote: { address: "192.0.2.1", port: 1 }, user: undefined },
  log: { info() {}, warn() {} },
} as unknown as HookContext;

const plugin = vrfy({
  directory: fakeDirectory(),
  isLocalDomain,
  access: lookupAccess({ perMinute: 0 }),
});

async function ask(p: typeof plugin, argument: string): Promise<string[]> {
  const decision = await p.vrfy?.(CTX, argument) as Decision;
  const r = decision.reply;
  assert.ok(r);
  return r.lines.map((line) => `${r.code} ${r.enhanced} ${line}`);
}

test("vrfy() answers a local user by address, <address> or local part, with the name", async () => {
  for (const arg of ["alice@example.org", "<Alice@Example.org>", "alice", " alice "]) {
    assert.deepEqual(await ask(plugin, arg), ["250 2.1.5 Alice Liddell <alice@example.org>"]);
  }
});

test("vrfy() answers a user without a name and an alias with <address>", async () => {
  assert.deepEqual(await ask(plugin, "bob@example.org"), ["250 2.1.5 <bob@example.org>"]);
  assert.deepEqual(await ask(plugin, "team"), ["250 2.1.5 <team@example.org>"]);
});

test("vrfy() finds a user by a fragment of the name", async () => {
  assert.deepEqual(await ask(plugin, "Liddell"), ["250 2.1.5 Alice Liddell <alice@example.org>"]);
  assert.deepEqual(await ask(plugin, "joe smith"), ["250 2.1.5 Joe Smith <jsmith@example.org>"]);
});

test("vrfy() lists the candidates of an ambiguous name with 553 5.1.4 (RFC 5321 §3.5.3)", async () => {
  assert.deepEqual(await ask(plugin, "bob"), [
    "553 5.1.4 Ambiguous; possibilities are",
    "553 5.1.4 Bob Two <bob@example.net>",
    "553 5.1.4 <bob@example.org>",
  ]);
  // Carol is on a domain that is not local, so she is no candidate.
  assert.deepEqual(await ask(plugin, "Smith"), [
    "553 5.1.4 Ambiguous; possibilities are",
    "553 5.1.4 Harry Smith <hsmith@example.org>",
    "553 5.1.4 Joe Smith <jsmith@example.org>",
  ]);
});

test("vrfy() lists at most MAX_CANDIDATES candidates", async () => {
  const many: DirectoryEntry[] = Array.from({ length: MAX_CANDIDATES + 5 }, (_, i) => ({
    kind: "user",
    address: `u${String(i).padStart(2, "0")}@example.org`,
    name: "Same Name",
  }));
  const p = vrfy({ directory: fakeDirectory(many), isLocalDomain, access: () => undefined });
  const lines = await ask(p, "same");
  assert.equal(lines.length, MAX_CANDIDATES + 2);
  assert.equal(lines.at(-1), "553 5.1.4 and 5 more");
});

test("vrfy() refuses unknown names with 550 5.1.1 and bad addresses with 501 5.1.3", async () => {
  assert.deepEqual(await ask(plugin, "nobody@example.org"), ["550 5.1.1 No such user here"]);
  assert.deepEqual(await ask(plugin, "nobody"), ["550 5.1.1 No such user here"]);
  assert.deepEqual(await ask(plugin, "Nobody At All"), ["550 5.1.1 No such user here"]);
  assert.deepEqual(await ask(plugin, "a..b@example.org"), ["501 5.1.3 Bad address syntax"]);
  assert.deepEqual(await ask(plugin, "<>"), ["501 5.1.3 Bad address syntax"]);
});

test("vrfy() knows postmaster on every local domain (RFC 5321 §4.5.1)", async () => {
  assert.deepEqual(await ask(plugin, "postmaster@example.net"), [
    "250 2.1.5 <postmaster@example.net>",
  ]);
});

test("vrfy() answers other domains with 252 2.1.5, or 551 5.1.6 by policy", async () => {
  assert.deepEqual(await ask(plugin, "carol@far.example"), [
    "252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery",
  ]);
  const strict = vrfy({
    directory: fakeDirectory(),
    isLocalDomain,
    nonLocal: "551",
    access: () => undefined,
  });
  assert.deepEqual(await ask(strict, "carol@far.example"), ["551 5.1.6 User not local"]);
});

test("vrfy() checks access before it looks the name up", async () => {
  let looked = false;
  const directory = { ...fakeDirectory(), entry: () => void (looked = true) } as LookupDirectory;
  const p = vrfy({ directory, isLocalDomain, access: lookupAccess({ requireAuth: true }) });
  assert.deepEqual(await ask(p, "alice@example.org"), ["530 5.7.0 Authentication required"]);
  assert.equal(looked, false);
});

test("lookUp() without byName does not search display names", () => {
  assert.deepEqual(lookUp(fakeDirectory(), isLocalDomain, "Liddell", false), { kind: "unknown" });
});

test("vrfyFromHost() reads non_local and the access options, and names bad ones", async () => {
  const host = (options: Record<string, unknown>) => ({
    options,
    isLocalDomain,
    directory: { resolve: () => undefined, isUser: () => false, ...fakeDirectory() },
  });
  const p = vrfyFromHost(host({ non_local: 551, per_minute: 0, require_auth: false }));
  assert.deepEqual(await ask(p, "carol@far.example"), ["551 5.1.6 User not local"]);
  assert.throws(() => vrfyFromHost(host({ non_local: "250" })), /non_local must be "252" or "551"/);
  assert.throws(() => vrfyFromHost(host({ nope: 1 })), /plugin\.vrfy: unknown option "nope"/);
  assert.throws(
    () =>
      vrfyFromHost({ ...host({}), directory: { resolve: () => undefined, isUser: () => false } }),
    /plugin\.vrfy: the host's directory cannot look names up/,
  );
});

test("lookupDirectory() keeps the view's methods bound to it", () => {
  const view = {
    marker: "me",
    resolve: () => undefined,
    isUser: () => false,
    entry(this: { marker: string }, address: string) {
      return { kind: "user" as const, address: `${this.marker}:${address}`, name: undefined };
    },
    findByLocalPart: () => [],
    findByName: () => [],
    aliasMembers: () => undefined,
  };
  assert.equal(lookupDirectory("vrfy", view).entry("x")?.address, "me:x");
});
