import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadRuntime } from "../runtime/runtime.ts";
import type { Database } from "../runtime/sqlite.ts";
import { Directory, MAX_ALIAS_DEPTH } from "./directory.ts";

const runtime = await loadRuntime();
const root = mkdtempSync(join(tmpdir(), "postino-directory-"));
const opened: Database[] = [];
let count = 0;

after(() => {
  for (const db of opened) db.close();
  rmSync(root, { recursive: true, force: true });
});

function open(path = join(root, `${count++}.db`)): { directory: Directory; path: string } {
  const db = runtime.openDatabase(path);
  opened.push(db);
  return { directory: new Directory(db), path };
}

const local = (domain: string) => domain === "example.com" || domain === "example.org";

test("Directory.addUser() stores a normalized user with a hashed password", async () => {
  const { directory } = open();
  await directory.addUser(" Alice@Example.COM ", { password: "s3cret", name: "Alice" });
  await directory.addUser("bob@example.com");
  assert.deepEqual(directory.getUser("ALICE@example.com"), {
    address: "alice@example.com",
    name: "Alice",
  });
  assert.deepEqual(directory.getUser("bob@example.com"), {
    address: "bob@example.com",
    name: undefined,
  });
  assert.equal(directory.getUser("carol@example.com"), undefined);
  assert.deepEqual(directory.listUsers(), [
    { address: "alice@example.com", name: "Alice", hasPassword: true },
    { address: "bob@example.com", name: undefined, hasPassword: false },
  ]);
});

test("Directory.addUser() never stores the password in plain text", async () => {
  const { directory, path } = open();
  await directory.addUser("alice@example.com", { password: "plain-text-canary" });
  const db = runtime.openDatabase(path);
  opened.push(db);
  const row = db.prepare("SELECT password_hash FROM users").get();
  assert.match(String(row?.["password_hash"]), /^scrypt\$16384\$8\$1\$/);
  assert.ok(!String(row?.["password_hash"]).includes("plain-text-canary"));
});

test("Directory.addUser() throws TypeError on invalid input or duplicates", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com");
  directory.addAlias("info@example.com", ["alice@example.com"]);
  const bad = ["", "alice", "a..b@example.com", "a b@example.com", "@example.com"];
  for (const address of bad) {
    await assert.rejects(directory.addUser(address), TypeError, address);
  }
  await assert.rejects(directory.addUser("ALICE@example.com"), /already exists/);
  await assert.rejects(directory.addUser("info@example.com"), /is an alias/);
  await assert.rejects(directory.addUser("carol@example.com", { password: "" }), TypeError);
  assert.deepEqual(directory.listUsers().map((user) => user.address), ["alice@example.com"]);
});

test("Directory.verifyPassword() checks the password case-insensitively by address", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com", { password: "s3cret" });
  await directory.addUser("nopass@example.com");
  assert.equal(await directory.verifyPassword("Alice@EXAMPLE.com", "s3cret"), true);
  assert.equal(await directory.verifyPassword("alice@example.com", "S3cret"), false);
  assert.equal(await directory.verifyPassword("nopass@example.com", ""), false);
  assert.equal(await directory.verifyPassword("ghost@example.com", "s3cret"), false);
});

test("Directory.setPassword() replaces the password of an existing user only", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com");
  await directory.setPassword("ALICE@example.com", "new");
  assert.equal(await directory.verifyPassword("alice@example.com", "new"), true);
  await directory.setPassword("alice@example.com", "newer");
  assert.equal(await directory.verifyPassword("alice@example.com", "new"), false);
  assert.equal(await directory.verifyPassword("alice@example.com", "newer"), true);
  await assert.rejects(directory.setPassword("ghost@example.com", "x"), /No such user/);
  await assert.rejects(directory.setPassword("alice@example.com", ""), TypeError);
});

test("Directory.removeUser() reports whether a user was removed", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com");
  assert.equal(directory.removeUser("Alice@Example.com"), true);
  assert.equal(directory.removeUser("alice@example.com"), false);
  assert.equal(directory.getUser("alice@example.com"), undefined);
});

test("Directory.addAlias() adds members in order, deduplicated and normalized", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com");
  directory.addAlias("Info@Example.com", ["alice@example.com", "Bob@Remote.NET"]);
  directory.addAlias("info@example.com", ["bob@remote.net", "carol@example.com"]);
  directory.addAlias("abuse@example.com", ["alice@example.com"]);
  assert.deepEqual(directory.getAlias("INFO@example.com"), [
    "alice@example.com",
    "bob@remote.net",
    "carol@example.com",
  ]);
  assert.equal(directory.getAlias("nobody@example.com"), undefined);
  assert.deepEqual(directory.listAliases(), [
    { address: "abuse@example.com", members: ["alice@example.com"] },
    {
      address: "info@example.com",
      members: ["alice@example.com", "bob@remote.net", "carol@example.com"],
    },
  ]);
});

test("Directory.addAlias() throws TypeError on invalid input or a user's address", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com");
  assert.throws(() => directory.addAlias("alice@example.com", ["bob@example.com"]), /is a user/);
  assert.throws(() => directory.addAlias("bad..alias@example.com", ["a@example.com"]), TypeError);
  assert.throws(() => directory.addAlias("info@example.com", ["ok@example.com", "no"]), TypeError);
  assert.throws(() => directory.addAlias("info@example.com", []), TypeError);
  assert.deepEqual(directory.listAliases(), []);
});

test("Directory.removeAlias() removes members, then the emptied alias", () => {
  const { directory } = open();
  directory.addAlias("info@example.com", ["a@example.com", "b@example.com", "c@example.com"]);
  assert.equal(directory.removeAlias("info@example.com", ["B@example.com"]), true);
  assert.deepEqual(directory.getAlias("info@example.com"), ["a@example.com", "c@example.com"]);
  assert.equal(directory.removeAlias("info@example.com", ["zz@example.com"]), false);
  assert.equal(directory.removeAlias("info@example.com", ["a@example.com", "c@example.com"]), true);
  assert.equal(directory.getAlias("info@example.com"), undefined);
  directory.addAlias("sales@example.com", ["a@example.com", "b@example.com"]);
  assert.equal(directory.removeAlias("SALES@example.com"), true);
  assert.equal(directory.removeAlias("sales@example.com"), false);
  assert.deepEqual(directory.listAliases(), []);
});

test("Directory.resolve() maps a user to its mailbox and ignores other domains", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com");
  directory.addAlias("fwd@remote.net", ["alice@example.com"]);
  const alice = { mailboxes: ["alice@example.com"], remote: [], unknown: [] };
  assert.deepEqual(directory.resolve("alice@example.com", local), alice);
  assert.deepEqual(directory.resolve("  ALICE@Example.Com", local), alice);
  assert.equal(directory.resolve("alice@remote.net", local), undefined);
  assert.equal(directory.resolve("fwd@remote.net", local), undefined);
  assert.equal(directory.resolve("ghost@example.com", local), undefined);
  assert.equal(directory.resolve("not an address", local), undefined);
  assert.equal(directory.resolve("", local), undefined);
});

test("Directory.resolve() expands aliases recursively, deduplicated, in order", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com");
  await directory.addUser("bob@example.com");
  await directory.addUser("carol@example.org");
  directory.addAlias("team@example.com", ["bob@example.com", "ops@example.com"]);
  directory.addAlias("ops@example.com", ["alice@example.com", "pager@remote.net"]);
  directory.addAlias("all@example.com", [
    "team@example.com",
    "carol@example.org",
    "alice@example.com",
    "ghost@example.com",
    "pager@remote.net",
    "ops@example.com",
  ]);
  assert.deepEqual(directory.resolve("All@Example.com", local), {
    mailboxes: ["bob@example.com", "alice@example.com", "carol@example.org"],
    remote: ["pager@remote.net"],
    unknown: ["ghost@example.com"],
  });
});

test("Directory.resolve() terminates on alias loops", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com");
  directory.addAlias("a@example.com", ["b@example.com", "alice@example.com"]);
  directory.addAlias("b@example.com", ["c@example.com"]);
  directory.addAlias("c@example.com", ["a@example.com", "b@example.com"]);
  directory.addAlias("self@example.com", ["self@example.com"]);
  const expected = { mailboxes: ["alice@example.com"], remote: [], unknown: [] };
  assert.deepEqual(directory.resolve("a@example.com", local), expected);
  assert.deepEqual(directory.resolve("c@example.com", local), expected);
  assert.deepEqual(directory.resolve("self@example.com", local), {
    mailboxes: [],
    remote: [],
    unknown: [],
  });
});

test("Directory.resolve() stops expanding at the depth limit", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com");
  await directory.addUser("deep@example.com");
  // level0 -> level1 -> … -> levelN -> deep; level0 also reaches alice.
  const levels = MAX_ALIAS_DEPTH + 1;
  for (let i = 0; i < levels; i++) {
    const next = i + 1 < levels ? `level${i + 1}@example.com` : "deep@example.com";
    directory.addAlias(`level${i}@example.com`, [next]);
  }
  directory.addAlias("level0@example.com", ["alice@example.com"]);
  assert.deepEqual(directory.resolve("level0@example.com", local), {
    mailboxes: ["alice@example.com"],
    remote: [],
    unknown: [`level${MAX_ALIAS_DEPTH}@example.com`],
  });
  // One level fewer fits.
  assert.deepEqual(directory.resolve("level1@example.com", local), {
    mailboxes: ["deep@example.com"],
    remote: [],
    unknown: [],
  });
});

test("Directory.resolve() always resolves postmaster of a local domain", async () => {
  const { directory } = open();
  const itself = (address: string) => ({ mailboxes: [address], remote: [], unknown: [] });
  assert.deepEqual(
    directory.resolve("PostMaster@example.com", local),
    itself("postmaster@example.com"),
  );
  assert.deepEqual(
    directory.resolve("postmaster@example.org", local),
    itself("postmaster@example.org"),
  );
  assert.equal(directory.resolve("postmaster@remote.net", local), undefined);
  directory.addAlias("abuse@example.com", ["postmaster@example.com"]);
  assert.deepEqual(directory.resolve("abuse@example.com", local), itself("postmaster@example.com"));

  await directory.addUser("admin@example.com");
  directory.addAlias("postmaster@example.com", ["admin@example.com", "ops@remote.net"]);
  assert.deepEqual(directory.resolve("postmaster@example.com", local), {
    mailboxes: ["admin@example.com"],
    remote: ["ops@remote.net"],
    unknown: [],
  });
  await directory.addUser("postmaster@example.org");
  assert.deepEqual(
    directory.resolve("postmaster@example.org", local),
    itself("postmaster@example.org"),
  );
});

test("Directory reads see writes made through another instance on the same file", async () => {
  const first = open();
  const second = open(first.path);
  assert.equal(second.directory.resolve("alice@example.com", local), undefined);
  await first.directory.addUser("alice@example.com", { password: "pw" });
  first.directory.addAlias("info@example.com", ["alice@example.com"]);
  assert.deepEqual(second.directory.getUser("alice@example.com"), {
    address: "alice@example.com",
    name: undefined,
  });
  assert.equal(await second.directory.verifyPassword("alice@example.com", "pw"), true);
  assert.deepEqual(second.directory.resolve("info@example.com", local), {
    mailboxes: ["alice@example.com"],
    remote: [],
    unknown: [],
  });
  assert.equal(first.directory.removeUser("alice@example.com"), true);
  assert.deepEqual(second.directory.resolve("info@example.com", local), {
    mailboxes: [],
    remote: [],
    unknown: ["alice@example.com"],
  });
  await assert.rejects(second.directory.addUser("info@example.com"), /is an alias/);
});

test("Directory constructor leaves PRAGMA user_version and other tables alone", () => {
  const path = join(root, "shared.db");
  const db = runtime.openDatabase(path);
  opened.push(db);
  db.exec("PRAGMA user_version = 7");
  db.exec("CREATE TABLE other (id INTEGER)");
  new Directory(db);
  new Directory(db);
  assert.equal(Number(db.prepare("PRAGMA user_version").get()?.["user_version"]), 7);
  assert.ok(db.prepare("SELECT name FROM sqlite_master WHERE name = 'other'").get());
});

test("Directory.getEntry() tells users (with names) from aliases (with the private flag)", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com", { name: "Alice Smith" });
  directory.addAlias("team@example.com", ["alice@example.com"]);
  assert.deepEqual(directory.getEntry("ALICE@example.com"), {
    kind: "user",
    address: "alice@example.com",
    name: "Alice Smith",
  });
  assert.deepEqual(directory.getEntry("team@example.com"), {
    kind: "alias",
    address: "team@example.com",
    private: false,
  });
  assert.equal(directory.getEntry("nobody@example.com"), undefined);
});

test("Directory.addAlias() and setAliasPrivate() mark an alias private and public", () => {
  const { directory } = open();
  directory.addAlias("board@example.com", ["a@example.com"], { private: true });
  assert.deepEqual(directory.getEntry("board@example.com"), {
    kind: "alias",
    address: "board@example.com",
    private: true,
  });
  // Adding members without the option leaves the flag alone.
  directory.addAlias("board@example.com", ["b@example.com"]);
  assert.deepEqual(directory.getEntry("board@example.com"), {
    kind: "alias",
    address: "board@example.com",
    private: true,
  });
  assert.equal(directory.setAliasPrivate("Board@Example.com", false), true);
  assert.deepEqual(directory.getEntry("board@example.com"), {
    kind: "alias",
    address: "board@example.com",
    private: false,
  });
  assert.equal(directory.setAliasPrivate("ghost@example.com", true), false);
  // Removing the alias forgets the flag with it.
  directory.setAliasPrivate("board@example.com", true);
  directory.removeAlias("board@example.com");
  directory.addAlias("board@example.com", ["a@example.com"]);
  assert.deepEqual(directory.getEntry("board@example.com"), {
    kind: "alias",
    address: "board@example.com",
    private: false,
  });
});

test("Directory.findByLocalPart() finds users and aliases on every domain, exactly", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.com", { name: "Alice" });
  await directory.addUser("alice@example.org");
  await directory.addUser("alice_b@example.com");
  await directory.addUser("alicex@example.com");
  directory.addAlias("a_ice@example.org", ["alice@example.org"], { private: true });
  assert.deepEqual(directory.findByLocalPart("ALICE"), [
    { kind: "user", address: "alice@example.com", name: "Alice" },
    { kind: "user", address: "alice@example.org", name: undefined },
  ]);
  // `_` and `%` are plain characters, not LIKE wildcards.
  assert.deepEqual(directory.findByLocalPart("a_ice"), [
    { kind: "alias", address: "a_ice@example.org", private: true },
  ]);
  assert.deepEqual(directory.findByLocalPart("al%"), []);
  assert.deepEqual(directory.findByLocalPart("bob"), []);
});

test("Directory.findByName() matches a name fragment, ignoring case, Unicode included", async () => {
  const { directory } = open();
  await directory.addUser("jsmith@example.com", { name: "Joe Smith" });
  await directory.addUser("hsmith@example.org", { name: "Harry SMITH" });
  await directory.addUser("zoe@example.com", { name: "Zoë Ångström" });
  await directory.addUser("noname@example.com");
  assert.deepEqual(directory.findByName("smith").map((e) => e.address), [
    "hsmith@example.org",
    "jsmith@example.com",
  ]);
  assert.deepEqual(directory.findByName("ÅNGSTRÖM"), [
    { kind: "user", address: "zoe@example.com", name: "Zoë Ångström" },
  ]);
  assert.deepEqual(directory.findByName("  "), []);
  assert.deepEqual(directory.findByName("nobody"), []);
});

test("Directory.grant() lets a user collect domains; revoke() and removeUser() take them back", async () => {
  const { directory } = open();
  await directory.addUser("alice@example.net");
  directory.grant("Alice@Example.NET", "Other.Example.");
  directory.grant("alice@example.net", "b.example");
  directory.grant("alice@example.net", "b.example"); // twice is once
  assert.deepEqual(directory.grantedDomains("alice@example.net"), ["b.example", "other.example"]);
  assert.deepEqual(directory.listGrants().map((g) => g.domain), ["b.example", "other.example"]);
  assert.throws(() => directory.grant("nobody@example.net", "b.example"), TypeError);
  assert.throws(() => directory.grant("alice@example.net", "not a domain"), TypeError);
  assert.throws(() => directory.grant("alice@example.net", "[192.0.2.1]"), TypeError);
  assert.equal(directory.revoke("alice@example.net", "B.example"), true);
  assert.equal(directory.revoke("alice@example.net", "b.example"), false);
  directory.removeUser("alice@example.net");
  await directory.addUser("alice@example.net");
  assert.deepEqual(directory.grantedDomains("alice@example.net"), []);
});

test("Directory.setName() sets and clears a user's name; false for no user", async () => {
  const { directory } = open();
  await directory.addUser("ann@example.org", { name: "Ann" });
  assert.equal(directory.setName("Ann@Example.org", "Ann Smith"), true);
  assert.equal(directory.getUser("ann@example.org")?.name, "Ann Smith");
  assert.equal(directory.setName("ann@example.org", undefined), true);
  assert.equal(directory.getUser("ann@example.org")?.name, undefined);
  assert.equal(directory.setName("nobody@example.org", "X"), false);
});

test("Directory.setAlias() replaces the members, keeps order, and refuses a user's address", async () => {
  const { directory } = open();
  await directory.addUser("bob@example.org");
  assert.equal(directory.setAlias("team@example.org", ["a@x.example", "b@x.example"]), true);
  assert.equal(
    directory.setAlias("team@example.org", ["c@x.example", "a@x.example"], { private: true }),
    false,
  );
  assert.deepEqual(directory.getAlias("team@example.org"), ["c@x.example", "a@x.example"]);
  assert.deepEqual(directory.getEntry("team@example.org"), {
    kind: "alias",
    address: "team@example.org",
    private: true,
  });
  // Without the option the flag stays as it was.
  directory.setAlias("team@example.org", ["d@x.example"]);
  const entry = directory.getEntry("team@example.org");
  assert.equal(entry?.kind === "alias" && entry.private, true);
  assert.throws(() => directory.setAlias("bob@example.org", ["a@x.example"]), /is a user/);
  assert.throws(() => directory.setAlias("team@example.org", []), /at least one member/);
  assert.throws(() => directory.setAlias("team@example.org", ["not an address"]), TypeError);
  // A failed replace leaves the alias as it was.
  assert.deepEqual(directory.getAlias("team@example.org"), ["d@x.example"]);
});
