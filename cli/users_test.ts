import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadRuntime } from "../core/runtime/runtime.ts";
import type { Directory } from "../core/store/directory.ts";
import { type CliIo, openDirectoryAt, runAliasCommand, runUserCommand } from "./users.ts";

const runtime = await loadRuntime();
const root = mkdtempSync(join(tmpdir(), "postino-cli-"));
let count = 0;

after(() => rmSync(root, { recursive: true, force: true }));

/** A fake CliIo over a real Directory in a fresh temp data dir. */
function fakeIo(stdin = "") {
  const base = join(root, String(count++));
  const directories = new Map<string, Directory>();
  const io = {
    out: [] as string[],
    err: [] as string[],
    opened: [] as string[],
    stdout(line: string) {
      io.out.push(line);
    },
    stderr(line: string) {
      io.err.push(line);
    },
    readStdin: () => Promise.resolve(stdin),
    async openDirectory(dataDir: string) {
      io.opened.push(dataDir);
      const existing = directories.get(dataDir);
      if (existing) return existing;
      const directory = await openDirectoryAt(runtime, join(base, dataDir));
      directories.set(dataDir, directory);
      return directory;
    },
    /** The directory behind the default data dir. */
    directory: () => io.openDirectory("./data"),
    reset(nextStdin = "") {
      io.out.length = 0;
      io.err.length = 0;
      io.opened.length = 0;
      stdin = nextStdin;
    },
  } satisfies CliIo & Record<string, unknown>;
  return io;
}

test("runUserCommand() add stores a user with the password from stdin", async () => {
  const io = fakeIo("s3cret\nignored second line\n");
  const code = await runUserCommand(
    ["add", "Alice@Example.com", "--password-stdin", "--name", "Alice A."],
    io,
  );
  assert.equal(code, 0, io.err.join("\n"));
  assert.deepEqual(io.out, ["added user alice@example.com"]);
  assert.deepEqual(io.err, []);
  assert.deepEqual(io.opened, ["./data"]);
  const directory = await io.directory();
  assert.deepEqual(directory.getUser("alice@example.com"), {
    address: "alice@example.com",
    name: "Alice A.",
  });
  assert.equal(await directory.verifyPassword("alice@example.com", "s3cret"), true);
});

test("runUserCommand() add strips CRLF and adds password-less users", async () => {
  const io = fakeIo("pw\r\n");
  assert.equal(await runUserCommand(["add", "a@example.com", "--password-stdin"], io), 0);
  assert.equal(await runUserCommand(["add", "b@example.com"], io), 0);
  const directory = await io.directory();
  assert.equal(await directory.verifyPassword("a@example.com", "pw"), true);
  assert.deepEqual(directory.listUsers().map((user) => user.hasPassword), [true, false]);
});

test("runUserCommand() add refuses an empty password", async () => {
  for (const stdin of ["", "\n", "\r\n"]) {
    const io = fakeIo(stdin);
    assert.equal(await runUserCommand(["add", "a@example.com", "--password-stdin"], io), 1);
    assert.match(io.err.join("\n"), /empty password/);
    assert.deepEqual((await io.directory()).listUsers(), []);
  }
});

test("runUserCommand() add fails with 1 on duplicates and invalid addresses", async () => {
  const io = fakeIo();
  assert.equal(await runUserCommand(["add", "alice@example.com"], io), 0);
  io.reset();
  assert.equal(await runUserCommand(["add", "ALICE@example.com"], io), 1);
  assert.deepEqual(io.err, ["postino user add: User alice@example.com already exists"]);
  io.reset();
  assert.equal(await runUserCommand(["add", "not..valid@example.com"], io), 1);
  assert.match(io.err[0] ?? "", /^postino user add: Invalid user address/);
  assert.equal(io.err.length, 1);
});

test("runUserCommand() list prints users sorted, with name and password state", async () => {
  const io = fakeIo("pw\n");
  await runUserCommand(["add", "zed@example.com", "--password-stdin"], io);
  await runUserCommand(["add", "amy@example.com", "--name", "Amy"], io);
  io.reset();
  assert.equal(await runUserCommand(["list"], io), 0);
  assert.deepEqual(io.out, ["amy@example.com (Amy) [no password]", "zed@example.com"]);
});

test("runUserCommand() passwd changes the password and requires --password-stdin", async () => {
  const io = fakeIo("old\n");
  await runUserCommand(["add", "alice@example.com", "--password-stdin"], io);
  io.reset("new\n");
  assert.equal(await runUserCommand(["passwd", "alice@example.com", "--password-stdin"], io), 0);
  assert.deepEqual(io.out, ["changed password of alice@example.com"]);
  assert.equal(await (await io.directory()).verifyPassword("alice@example.com", "new"), true);

  io.reset("x\n");
  assert.equal(await runUserCommand(["passwd", "alice@example.com"], io), 2);
  assert.deepEqual(io.err, [
    "postino user: --password-stdin is required",
    "Usage: postino user passwd ADDRESS --password-stdin [--data-dir DIR]",
  ]);
  assert.deepEqual(io.opened, []);

  io.reset("x\n");
  assert.equal(await runUserCommand(["passwd", "ghost@example.com", "--password-stdin"], io), 1);
  assert.match(io.err.join("\n"), /No such user/);
  io.reset("\n");
  assert.equal(await runUserCommand(["passwd", "alice@example.com", "--password-stdin"], io), 1);
  assert.equal(await (await io.directory()).verifyPassword("alice@example.com", "new"), true);
});

test("runUserCommand() remove deletes a user, then reports it missing", async () => {
  const io = fakeIo();
  await runUserCommand(["add", "alice@example.com"], io);
  io.reset();
  assert.equal(await runUserCommand(["remove", "Alice@Example.com"], io), 0);
  assert.deepEqual(io.out, ["removed user alice@example.com"]);
  io.reset();
  assert.equal(await runUserCommand(["remove", "alice@example.com"], io), 1);
  assert.deepEqual(io.err, ["postino user remove: no such user: alice@example.com"]);
});

test("runUserCommand() uses --data-dir", async () => {
  const io = fakeIo();
  assert.equal(await runUserCommand(["add", "a@example.com", "--data-dir", "elsewhere"], io), 0);
  assert.equal(await runUserCommand(["list", "--data-dir=elsewhere"], io), 0);
  assert.deepEqual(io.opened, ["elsewhere", "elsewhere"]);
  assert.deepEqual((await io.directory()).listUsers(), []);
});

test("runUserCommand() and runAliasCommand() print help with 0 and open nothing", async () => {
  const cases: [typeof runUserCommand, string[]][] = [
    [runUserCommand, ["--help"]],
    [runUserCommand, ["-h"]],
    [runUserCommand, ["add", "--help"]],
    [runUserCommand, ["list", "-h"]],
    [runUserCommand, ["remove", "--help"]],
    [runUserCommand, ["passwd", "x", "-h"]],
    [runAliasCommand, ["help"]],
    [runAliasCommand, ["add", "-h"]],
    [runAliasCommand, ["list", "--help"]],
    [runAliasCommand, ["remove", "--help"]],
  ];
  for (const [run, args] of cases) {
    const io = fakeIo();
    assert.equal(await run(args, io), 0, args.join(" "));
    assert.match(io.out[0] ?? "", /^Usage:/, args.join(" "));
    assert.deepEqual(io.err, []);
    assert.deepEqual(io.opened, []);
  }
});

test("runUserCommand() and runAliasCommand() reject bad usage with 2", async () => {
  const cases: [typeof runUserCommand, string[], RegExp][] = [
    [runUserCommand, [], /missing subcommand/],
    [runUserCommand, ["frobnicate"], /unknown subcommand: frobnicate/],
    [runUserCommand, ["constructor"], /unknown subcommand/],
    [runUserCommand, ["add"], /missing argument/],
    [runUserCommand, ["add", "a@example.com", "b@example.com"], /too many arguments/],
    [runUserCommand, ["add", "a@example.com", "--bogus"], /bogus/],
    [runUserCommand, ["add", "a@example.com", "--name"], /name/],
    [runUserCommand, ["list", "extra"], /too many arguments/],
    [runUserCommand, ["list", "--password-stdin"], /password-stdin/],
    [runUserCommand, ["remove"], /missing argument/],
    [runAliasCommand, [], /missing subcommand/],
    [runAliasCommand, ["add", "info@example.com"], /missing argument/],
    [runAliasCommand, ["remove"], /missing argument/],
    [runAliasCommand, ["list", "-x"], /x/],
  ];
  for (const [run, args, message] of cases) {
    const io = fakeIo();
    assert.equal(await run(args, io), 2, args.join(" "));
    assert.match(io.err[0] ?? "", message, args.join(" "));
    assert.match(io.err[1] ?? "", /^Usage:/, args.join(" "));
    assert.deepEqual(io.out, []);
    assert.deepEqual(io.opened, []);
  }
});

test("runAliasCommand() add, list and remove manage aliases", async () => {
  const io = fakeIo();
  await runUserCommand(["add", "alice@example.com"], io);
  io.reset();
  const add = ["add", "Info@Example.com", "alice@example.com", "bob@remote.net"];
  assert.equal(await runAliasCommand(add, io), 0);
  assert.equal(await runAliasCommand(["add", "info@example.com", "carol@example.com"], io), 0);
  assert.equal(await runAliasCommand(["add", "abuse@example.com", "info@example.com"], io), 0);
  assert.deepEqual(io.out, [
    "info@example.com -> alice@example.com, bob@remote.net",
    "info@example.com -> alice@example.com, bob@remote.net, carol@example.com",
    "abuse@example.com -> info@example.com",
  ]);
  io.reset();
  assert.equal(await runAliasCommand(["list"], io), 0);
  assert.deepEqual(io.out, [
    "abuse@example.com -> info@example.com",
    "info@example.com -> alice@example.com, bob@remote.net, carol@example.com",
  ]);
  io.reset();
  assert.equal(await runAliasCommand(["remove", "info@example.com", "bob@remote.net"], io), 0);
  assert.equal(await runAliasCommand(["remove", "abuse@example.com"], io), 0);
  assert.deepEqual(io.out, [
    "removed members from info@example.com",
    "removed alias abuse@example.com",
  ]);
  io.reset();
  assert.equal(await runAliasCommand(["list"], io), 0);
  assert.deepEqual(io.out, ["info@example.com -> alice@example.com, carol@example.com"]);
});

test("runAliasCommand() fails with 1 on conflicts, bad addresses and unknown aliases", async () => {
  const io = fakeIo();
  await runUserCommand(["add", "alice@example.com"], io);
  io.reset();
  assert.equal(await runAliasCommand(["add", "alice@example.com", "bob@example.com"], io), 1);
  assert.match(io.err[0] ?? "", /^postino alias add: alice@example\.com is a user/);
  io.reset();
  assert.equal(await runAliasCommand(["add", "info@example.com", "not an address"], io), 1);
  assert.match(io.err[0] ?? "", /Invalid member address/);
  io.reset();
  assert.equal(await runAliasCommand(["remove", "ghost@example.com"], io), 1);
  assert.deepEqual(io.err, ["postino alias remove: no such alias: ghost@example.com"]);
  io.reset();
  await runAliasCommand(["add", "info@example.com", "alice@example.com"], io);
  assert.equal(await runAliasCommand(["remove", "info@example.com", "zz@example.com"], io), 1);
  assert.match(io.err[0] ?? "", /no such member of info@example\.com/);
  assert.equal((await io.directory()).listAliases().length, 1);
});

test("openDirectoryAt() creates the data dir and postino.db", async () => {
  const dataDir = join(root, "fresh", "nested", "data");
  const directory = await openDirectoryAt(runtime, dataDir);
  assert.ok(existsSync(join(dataDir, "postino.db")));
  await directory.addUser("alice@example.com");
  const again = await openDirectoryAt(runtime, dataDir);
  assert.equal(again.getUser("alice@example.com")?.address, "alice@example.com");
});

test("runUserCommand() grant, grants and revoke manage the domains a user may collect with ATRN", async () => {
  const io = fakeIo();
  assert.equal(await runUserCommand(["add", "alice@example.net"], io), 0);
  assert.equal(await runUserCommand(["grant", "alice@example.net", "Other.Example"], io), 0);
  assert.equal(io.out.at(-1), "alice@example.net may collect other.example");
  assert.equal(await runUserCommand(["grants"], io), 0);
  assert.equal(io.out.at(-1), "alice@example.net other.example");
  assert.equal(await runUserCommand(["grant", "bob@example.net", "other.example"], io), 1);
  assert.match(io.err.at(-1) ?? "", /No such user: bob@example\.net/);
  assert.equal(await runUserCommand(["grant", "alice@example.net"], io), 2);
  assert.equal(await runUserCommand(["revoke", "alice@example.net", "other.example"], io), 0);
  assert.equal(await runUserCommand(["revoke", "alice@example.net", "other.example"], io), 1);
  assert.deepEqual((await io.directory()).grantedDomains("alice@example.net"), []);
});
