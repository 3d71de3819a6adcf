import assert from "node:assert/strict";
import { test } from "node:test";
import type { Decision } from "../core/hooks/decision.ts";
import type { HookContext } from "../core/hooks/plugin.ts";
import type { DirectoryEntry } from "../core/store/directory.ts";
import { expn, expnFromHost } from "./expn.ts";
import { lookupAccess } from "./lookup_access.ts";
import type { LookupDirectory } from "./vrfy.ts";

const ENTRIES: DirectoryEntry[] = [
  { kind: "user", address: "alice@example.org", name: "Alice Liddell" },
  { kind: "user", address: "bob@example.org", name: undefined },
  { kind: "alias", address: "team@example.org", private: false },
  { kind: "alias", address: "team@example.net", private: false },
  { kind: "alias", address: "staff@example.org", private: false },
  { kind: "alias", address: "board@example.org", private: true },
];
const MEMBERS: Record<string, string[]> = {
  "team@example.org": [
    "alice@example.org",
    "bob@example.org",
    "x@far.example",
    "staff@example.org",
  ],
  "team@example.net": ["alice@example.org"],
  "staff@example.org": ["bob@example.org"],
  "board@example.org": ["alice@example.org"],
};

const isLocalDomain = (d: string) => d === "example.org" || d === "example.net";

const directory: LookupDirectory = {
  entry: (address) => ENTRIES.find((e) => e.address === address.toLowerCase()),
  findByLocalPart: (local) =>
    ENTRIES.filter((e) => e.address.startsWith(`${local.toLowerCase()}@`))
      .sort((a, b) => a.address.localeCompare(b.address)),
  findByName: () => assert.fail("EXPN never searches names"),
  aliasMembers: (address) => MEMBERS[address],
};

const CTX = {
  connection: { remote: { address: "192.0.2.1", port: 1 }, user: undefined },
  log: { info() {}, warn() {} },
} as unknown as HookContext;

const plugin = expn({ directory, isLocalDomain, access: () => undefined });

async function ask(p: typeof plugin, argument: string): Promise<string[]> {
  const decision = await p.expn?.(CTX, argument) as Decision;
  const r = decision.reply;
  assert.ok(r);
  return r.lines.map((line) => `${r.code} ${r.enhanced} ${line}`);
}

test("expn() lists a list's direct members, with names where users have them", async () => {
  const want = [
    "250 2.1.5 Alice Liddell <alice@example.org>",
    "250 2.1.5 <bob@example.org>",
    "250 2.1.5 <x@far.example>",
    "250 2.1.5 <staff@example.org>",
  ];
  assert.deepEqual(await ask(plugin, "team@example.org"), want);
  assert.deepEqual(await ask(plugin, "<Team@Example.org>"), want);
});

test("expn() takes a bare local part when one local domain has it", async () => {
  assert.deepEqual(await ask(plugin, "staff"), ["250 2.1.5 <bob@example.org>"]);
  assert.deepEqual(await ask(plugin, "team"), [
    "553 5.1.4 Ambiguous; possibilities are",
    "553 5.1.4 <team@example.net>",
    "553 5.1.4 <team@example.org>",
  ]);
});

test("expn() refuses a private list with 550 5.7.1", async () => {
  assert.deepEqual(await ask(plugin, "board@example.org"), ["550 5.7.1 List is private"]);
});

test("expn() answers a plain user with the user alone", async () => {
  assert.deepEqual(await ask(plugin, "alice"), ["250 2.1.5 Alice Liddell <alice@example.org>"]);
});

test("expn() refuses unknown and non-local lists with 550 5.1.1, bad ones with 501", async () => {
  for (const arg of ["nolist@example.org", "nolist", "Alice Liddell", "list@far.example"]) {
    assert.deepEqual(await ask(plugin, arg), ["550 5.1.1 No such list here"], arg);
  }
  assert.deepEqual(await ask(plugin, "@example.org"), ["501 5.1.3 Bad address syntax"]);
});

test("expn() checks access first", async () => {
  const p = expn({ directory, isLocalDomain, access: lookupAccess({ networks: ["10.0.0.0/8"] }) });
  assert.deepEqual(await ask(p, "team@example.org"), ["550 5.7.1 Not allowed"]);
});

test("expnFromHost() takes only the access options", async () => {
  const host = (options: Record<string, unknown>) => ({
    options,
    isLocalDomain,
    directory: { resolve: () => undefined, isUser: () => false, ...directory },
  });
  const p = expnFromHost(host({ require_auth: true }));
  assert.deepEqual(await ask(p, "team@example.org"), ["530 5.7.0 Authentication required"]);
  assert.throws(() => expnFromHost(host({ non_local: "252" })), /plugin\.expn: unknown option/);
  assert.throws(
    () =>
      expnFromHost({ ...host({}), directory: { resolve: () => undefined, isUser: () => false } }),
    /plugin\.expn: the host's directory cannot look names up/,
  );
});
