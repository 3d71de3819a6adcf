import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SILENT_LOGGER } from "../log.ts";
import {
  CONTROL_SOCKET,
  type ControlServer,
  type ControlServerOptions,
  parseWatch,
  startControlServer,
} from "./control_server.ts";
import { TerminalHub } from "./hub.ts";

/** A line reader over a unix-socket client. */
class LineClient {
  #lines: string[] = [];
  #waiters = new Set<() => void>();
  closed = false;
  constructor(readonly socket: Socket) {
    let buffer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf("\n")) !== -1) {
        this.#lines.push(buffer.slice(0, end));
        buffer = buffer.slice(end + 1);
      }
      for (const w of this.#waiters) w();
    });
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.#waiters) w();
    });
    socket.on("error", () => {});
  }
  static open(path: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path, () => resolve(new LineClient(socket)));
      socket.once("error", reject);
    });
  }
  async line(timeoutMs = 5000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (this.closed) return null;
      if (Date.now() > deadline) throw new Error("no line in time");
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, 50);
        this.#waiters.add(done);
      });
    }
    return this.#lines.shift() as string;
  }
}

async function withServer(
  run: (control: ControlServer, hub: TerminalHub, dir: string) => Promise<void>,
  extra: Partial<ControlServerOptions> = {},
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "postino-control-"));
  const hub = new TerminalHub();
  const control = await startControlServer({
    path: join(dir, CONTROL_SOCKET),
    hub,
    isUser: (address) => address === "alice@example.org",
    verifyPassword: (address, password) =>
      Promise.resolve(address === "alice@example.org" && password === "s3cret é"),
    log: SILENT_LOGGER,
    ...extra,
  });
  try {
    await run(control, hub, dir);
  } finally {
    await control.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("parseWatch() reads the address and an optional base64 password", () => {
  assert.deepEqual(parseWatch("WATCH Alice@Example.org"), { address: "alice@example.org" });
  assert.deepEqual(parseWatch("watch a@b.c cGFzcw=="), { address: "a@b.c", password: "pass" });
  for (
    const bad of [
      "",
      "WATCH",
      "WATCH  a@b.c",
      "LOOK a@b.c",
      "WATCH a@b.c not*base64",
      "WATCH a b c",
    ]
  ) {
    assert.equal(parseWatch(bad), undefined, bad);
  }
});

test("startControlServer() streams terminal messages to a watcher as JSON lines", async () => {
  await withServer(async (control, hub) => {
    assert.equal(statSync(control.path).mode & 0o777, 0o600);
    const client = await LineClient.open(control.path);
    client.socket.write("WATCH ALICE@example.org\n");
    assert.equal(await client.line(), "OK watching alice@example.org");
    assert.equal(hub.has("alice@example.org"), true);
    assert.equal(
      hub.deliver("alice@example.org", { from: "bob@example.org", text: "hi\nthere" }),
      1,
    );
    assert.deepEqual(JSON.parse(await client.line() ?? ""), {
      from: "bob@example.org",
      text: "hi\nthere",
    });
    client.socket.destroy();
    const deadline = Date.now() + 5000;
    while (hub.has("alice@example.org") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(hub.has("alice@example.org"), false, "the terminal closes with the connection");
  });
});

test("startControlServer() checks a password when one is given", async () => {
  await withServer(async (control, hub) => {
    const good = await LineClient.open(control.path);
    good.socket.write(
      `WATCH alice@example.org ${
        btoa(String.fromCharCode(...new TextEncoder().encode("s3cret é")))
      }\n`,
    );
    assert.equal(await good.line(), "OK watching alice@example.org");
    const bad = await LineClient.open(control.path);
    bad.socket.write(`WATCH alice@example.org ${btoa("wrong")}\n`);
    assert.equal(await bad.line(), "ERR authentication failed");
    assert.equal(await bad.line(), null);
    assert.equal(hub.size, 1);
    good.socket.destroy();
  });
});

test("startControlServer() refuses unknown users, bad requests and a disabled plugin", async () => {
  let enabled = true;
  await withServer(async (control) => {
    const ask = async (request: string) => {
      const client = await LineClient.open(control.path);
      client.socket.write(request);
      const line = await client.line();
      assert.equal(await client.line(), null, "the server closes after ERR");
      return line;
    };
    assert.equal(await ask("WATCH bob@example.org\n"), "ERR bob@example.org is not a local user");
    assert.match(await ask("HELLO\n") ?? "", /^ERR usage: WATCH/);
    assert.equal(await ask("x".repeat(5000)), "ERR request too long");
    enabled = false;
    assert.match(await ask("WATCH alice@example.org\n") ?? "", /^ERR terminals are off/);
  }, { enabled: () => enabled });
});

test("startControlServer() replaces a stale socket file, keeps a live one, removes its own", async () => {
  const dir = mkdtempSync(join(tmpdir(), "postino-control-"));
  const path = join(dir, CONTROL_SOCKET);
  writeFileSync(path, "left over from a crash");
  const options = {
    path,
    hub: new TerminalHub(),
    isUser: () => true,
    verifyPassword: () => Promise.resolve(false),
    log: SILENT_LOGGER,
  };
  const first = await startControlServer(options);
  assert.equal(first.listening, true);
  const second = await startControlServer(options);
  assert.equal(second.listening, false, "another server answers: leave it alone");
  await second.close();
  assert.equal(existsSync(path), true);
  const client = await LineClient.open(path);
  await first.close();
  assert.equal(await client.line(), null, "watchers end when the server stops");
  assert.equal(existsSync(path), false);
  rmSync(dir, { recursive: true, force: true });
});
