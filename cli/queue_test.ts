import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NewMessage } from "../core/queue/spool.ts";
import { SqliteSpool } from "../core/queue/sqlite_spool.ts";
import { loadRuntime } from "../core/runtime/runtime.ts";
import { formatDuration, openDatabaseAt, type QueueIo, runQueueCommand } from "./queue.ts";

const runtime = await loadRuntime();
const root = mkdtempSync(join(tmpdir(), "postino-queue-"));
let count = 0;
const NOW = Date.UTC(2030, 0, 1, 12);

after(() => rmSync(root, { recursive: true, force: true }));

function message(id: string, recipients: string[], receivedAt = NOW - 90_000): NewMessage {
  return {
    id,
    sender: "app@example.com",
    params: { smtputf8: false, eightBit: false },
    data: new TextEncoder().encode(`Subject: ${id}\r\nTo: someone\r\n\r\nsecret body\r\n`),
    receivedAt,
    isBounce: false,
    recipients: recipients.map((address) => ({ address, original: address })),
  };
}

/** A fake QueueIo over a real spool in a fresh data dir, holding `messages`. */
async function fakeIo(messages: NewMessage[] = []) {
  const dataDir = join(root, String(count++));
  mkdirSync(dataDir);
  const spool = new SqliteSpool(runtime.openDatabase(join(dataDir, "postino.db")));
  for (const m of messages) await spool.put(m);
  const io = {
    out: [] as string[],
    err: [] as string[],
    dataDir,
    spool,
    stdout: (line: string) => void io.out.push(line),
    stderr: (line: string) => void io.err.push(line),
    openDatabase: (dir: string) => openDatabaseAt(runtime, dir),
    now: () => NOW,
    run: (...args: string[]) => runQueueCommand([...args, "--data-dir", dataDir], io),
    reset() {
      io.out.length = 0;
      io.err.length = 0;
    },
  } satisfies QueueIo & Record<string, unknown>;
  return io;
}

test("formatDuration() rounds to the largest whole unit", () => {
  const cases: [number, string][] = [
    [-5_000, "0s"],
    [0, "0s"],
    [42_000, "42s"],
    [90_000, "1m"],
    [3 * 3_600_000 + 1, "3h"],
    [2 * 86_400_000, "2d"],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});

test("runQueueCommand() list says when the queue is empty, and --json gives []", async () => {
  const io = await fakeIo();
  assert.equal(await io.run("list"), 0);
  assert.deepEqual(io.out, ["queue is empty"]);
  io.reset();
  assert.equal(await io.run("list", "--json"), 0);
  assert.deepEqual(JSON.parse(io.out.join("\n")), []);
});

test("runQueueCommand() list shows size, age, held, and each recipient's state", async () => {
  const io = await fakeIo([message("M1", ["a@far.example", "b@far.example"])]);
  io.spool.lease(NOW, 10, 60_000);
  await io.spool.record(
    "M1",
    [
      { address: "a@far.example", status: "deferred", code: 451, enhanced: "4.4.1", text: "down" },
      { address: "b@far.example", status: "delivered" },
    ],
    NOW - 1000,
    () => NOW + 600_000,
  );
  io.spool.hold("M1", true);
  assert.equal(await io.run("list"), 0, io.err.join("\n"));
  const size = message("M1", []).data.byteLength;
  assert.deepEqual(io.out, [
    `M1  ${size} B  1m old  from <app@example.com>  HELD`,
    "  <a@far.example>  queued  attempts: 1  next: in 10m  last error: 451 4.4.1 down",
    "  <b@far.example>  delivered  attempts: 1",
  ]);
});

test("runQueueCommand() list --json gives every field in machine form", async () => {
  const io = await fakeIo([message("M1", ["a@far.example"])]);
  assert.equal(await io.run("list", "--json"), 0);
  assert.deepEqual(JSON.parse(io.out.join("\n")), [{
    id: "M1",
    sender: "app@example.com",
    size: message("M1", []).data.byteLength,
    receivedAt: new Date(NOW - 90_000).toISOString(),
    ageSeconds: 90,
    held: false,
    state: "queued",
    recipients: [{
      address: "a@far.example",
      state: "queued",
      attempts: 0,
      nextAttempt: new Date(NOW - 90_000).toISOString(),
      lastError: null,
    }],
  }]);
});

test("runQueueCommand() show prints the envelope and the headers, not the body", async () => {
  const io = await fakeIo([message("M1", ["a@far.example"])]);
  assert.equal(await io.run("show", "M1"), 0, io.err.join("\n"));
  assert.equal(io.out[0]?.startsWith("M1  "), true);
  assert.equal(io.out[1], "  <a@far.example>  queued  attempts: 0  next: now");
  assert.ok(io.out.includes(`  params: {"smtputf8":false,"eightBit":false}`));
  assert.deepEqual(io.out.slice(-2), ["Subject: M1", "To: someone"]);
  assert.ok(!io.out.some((line) => line.includes("secret body")));
});

test("runQueueCommand() show, flush, hold, release and remove exit 1 for an unknown id", async () => {
  const io = await fakeIo([message("M1", ["a@far.example"])]);
  for (const command of ["show", "flush", "hold", "release", "remove"]) {
    io.reset();
    assert.equal(await io.run(command, "NOPE"), 1, command);
    assert.match(io.err.join("\n"), /no such message: NOPE/);
  }
  assert.equal(io.spool.count(), 1);
});

test("runQueueCommand() flush makes one id, one domain, or everything due now", async () => {
  const later = NOW + 3_600_000;
  const io = await fakeIo([
    message("M1", ["a@one.example", "b@two.example"]),
    message("M2", ["c@two.example"]),
  ]);
  const defer = async (id: string, address: string) => {
    await io.spool.record(
      id,
      [
        { address, status: "deferred", code: 421, enhanced: "4.4.2", text: "later" },
      ],
      NOW,
      () => later,
    );
  };
  const due = () =>
    io.spool.list().flatMap((m) => m.recipients.filter((r) => r.nextAttempt <= NOW))
      .map((r) => r.address).sort();
  for (const [id, address] of [["M1", "a@one.example"], ["M1", "b@two.example"]] as const) {
    await defer(id, address);
  }
  await defer("M2", "c@two.example");
  assert.deepEqual(due(), []);

  assert.equal(await io.run("flush", "--domain", "two.example"), 0);
  assert.deepEqual(due(), ["b@two.example", "c@two.example"]);
  assert.match(io.out[0] ?? "", /^2 recipient\(s\) due now/);
  assert.equal(await io.run("flush", "M1"), 0);
  assert.deepEqual(due(), ["a@one.example", "b@two.example", "c@two.example"]);

  await defer("M2", "c@two.example");
  assert.equal(await io.run("flush"), 0);
  assert.deepEqual(due(), ["a@one.example", "b@two.example", "c@two.example"]);
  io.reset();
  assert.equal(await io.run("flush", "M1", "--domain", "x.example"), 2);
  assert.match(io.err[0] ?? "", /not both/);
});

test("runQueueCommand() hold and release pause a message and let it go", async () => {
  const io = await fakeIo([message("M1", ["a@far.example"]), message("M2", ["b@far.example"])]);
  assert.equal(await io.run("hold", "M1", "M2"), 0);
  assert.deepEqual(io.out, ["held M1", "held M2"]);
  assert.deepEqual(io.spool.lease(NOW, 10, 1000), [], "held messages are not delivered");
  io.reset();
  assert.equal(await io.run("release", "M2", "NOPE"), 1, "an unknown id fails the command");
  assert.deepEqual(io.out, ["released M2"], "but the known ones are still released");
  assert.deepEqual(io.spool.list().map((m) => [m.id, m.held]), [["M1", true], ["M2", false]]);
  assert.deepEqual(io.spool.lease(NOW, 10, 1000).map((m) => m.id), ["M2"]);
});

test("runQueueCommand() remove deletes messages", async () => {
  const io = await fakeIo([message("M1", ["a@far.example"]), message("M2", ["b@far.example"])]);
  assert.equal(await io.run("remove", "M1", "M2"), 0);
  assert.deepEqual(io.out, ["removed M1", "removed M2"]);
  assert.equal(io.spool.count(), 0);
});

test("runQueueCommand() answers usage errors with exit 2 and --help with 0", async () => {
  const io = await fakeIo();
  const cases: [string[], number, RegExp][] = [
    [[], 2, /missing subcommand/],
    [["frobnicate"], 2, /unknown subcommand: frobnicate/],
    [["show"], 2, /missing argument/],
    [["list", "extra"], 2, /too many arguments/],
    [["list", "--bogus"], 2, /bogus/],
    [["hold"], 2, /missing argument/],
  ];
  for (const [args, code, pattern] of cases) {
    io.reset();
    assert.equal(await runQueueCommand(args, io), code, args.join(" "));
    assert.match(io.err.join("\n"), pattern, args.join(" "));
  }
  io.reset();
  assert.equal(await runQueueCommand(["--help"], io), 0);
  assert.match(io.out.join("\n"), /postino queue flush \[ID \| --domain DOMAIN\]/);
  io.reset();
  assert.equal(await runQueueCommand(["list", "--help"], io), 0);
  assert.deepEqual(io.out, ["Usage: postino queue list [--json] [--data-dir DIR]"]);
});

test("runQueueCommand() exits 1 when there is no database, and creates none", async () => {
  const io = await fakeIo();
  const missing = join(root, "missing");
  assert.equal(await runQueueCommand(["list", "--data-dir", missing], io), 1);
  assert.match(io.err[0] ?? "", /no database at .*missing.*postino\.db/);
  assert.equal(existsSync(missing), false);
});
