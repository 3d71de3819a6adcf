import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SILENT_LOGGER } from "../core/log.ts";
import { CONTROL_SOCKET, startControlServer } from "../core/terminal/control_server.ts";
import { TerminalHub } from "../core/terminal/hub.ts";
import { formatTerminalMessage, runWatchCommand, type WatchIo } from "./watch.ts";

function fakeIo(stdin = "") {
  const out: string[] = [];
  const err: string[] = [];
  let stop = () => {};
  const io: WatchIo = {
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    readStdin: () => Promise.resolve(stdin),
    onStop: (fn) => stop = fn,
  };
  return { io, out, err, stop: () => stop() };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withControl(
  run: (dir: string, hub: TerminalHub, close: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "postino-watch-"));
  const hub = new TerminalHub();
  const control = await startControlServer({
    path: join(dir, CONTROL_SOCKET),
    hub,
    isUser: (address) => address === "alice@example.org",
    verifyPassword: (_address, password) => Promise.resolve(password === "pw"),
    log: SILENT_LOGGER,
  });
  try {
    await run(dir, hub, () => control.close());
  } finally {
    await control.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("formatTerminalMessage() prints the sender, then the text, without control characters", () => {
  assert.equal(
    formatTerminalMessage(JSON.stringify({ from: "bob@example.org", text: "hi\x1b[2J\nthere" })),
    "from bob@example.org:\nhi[2J\nthere",
  );
  assert.equal(formatTerminalMessage("not json"), "(unreadable message)");
  assert.equal(formatTerminalMessage('{"from":1}'), "(unreadable message)");
});

test("runWatchCommand() prints watching, then each message, and exits 0 when stopped", async () => {
  await withControl(async (dir, hub) => {
    const { io, out, err, stop } = fakeIo("pw\n");
    const done = runWatchCommand(["alice@example.org", "--data-dir", dir, "--password-stdin"], io);
    await until(() => out.length === 1, "the watching line");
    assert.deepEqual(out, ["watching alice@example.org"]);
    hub.deliver("alice@example.org", { from: "bob@example.org", text: "lunch?" });
    await until(() => out.length === 2, "the message");
    assert.equal(out[1], "from bob@example.org:\nlunch?");
    stop();
    assert.equal(await done, 0);
    assert.deepEqual(err, []);
  });
});

test("runWatchCommand() exits 0 when the server goes away", async () => {
  await withControl(async (dir, _hub, close) => {
    const { io, out, err } = fakeIo();
    const done = runWatchCommand(["alice@example.org", "--data-dir", dir], io);
    await until(() => out.length === 1, "the watching line");
    await close();
    assert.equal(await done, 0);
    assert.deepEqual(err, ["postino watch: the server went away"]);
  });
});

test("runWatchCommand() exits 1 when refused or when no server runs", async () => {
  await withControl(async (dir) => {
    const refused = fakeIo("wrong\n");
    assert.equal(
      await runWatchCommand(
        ["alice@example.org", "--data-dir", dir, "--password-stdin"],
        refused.io,
      ),
      1,
    );
    assert.deepEqual(refused.err, ["postino watch: authentication failed"]);
    const unknown = fakeIo();
    assert.equal(await runWatchCommand(["bob@example.org", "--data-dir", dir], unknown.io), 1);
    assert.deepEqual(unknown.err, ["postino watch: bob@example.org is not a local user"]);
    const nobody = fakeIo();
    const empty = join(dir, "empty");
    assert.equal(await runWatchCommand(["alice@example.org", "--data-dir", empty], nobody.io), 1);
    assert.match(nobody.err[0] ?? "", /cannot reach the server at .*postino\.sock \(ENOENT\)/);
  });
});

test("runWatchCommand() answers bad usage with 2 and --help with 0", async () => {
  for (const args of [[], ["a@b.c", "d@e.f"], ["a@b.c", "--nope"]]) {
    const { io, err } = fakeIo();
    assert.equal(await runWatchCommand(args, io), 2, args.join(" "));
    assert.match(err.join("\n"), /Usage: postino watch ADDRESS/);
  }
  const { io, out } = fakeIo();
  assert.equal(await runWatchCommand(["--help"], io), 0);
  assert.match(out[0] ?? "", /^Usage: postino watch/);
  const empty = fakeIo("\n");
  assert.equal(await runWatchCommand(["a@b.c", "--password-stdin"], empty.io), 1);
});
