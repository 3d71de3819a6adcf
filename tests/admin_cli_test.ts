/**
 * `postino admin token` and the admin listener's start-up, on the real CLI.
 *
 * @module
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { postino, startServer, tempDir } from "./helpers/server.ts";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test("admin token creates the token once and prints it on its last line", async () => {
  const dir = tempDir();
  dirs.push(dir);
  const first = await postino(["admin", "token", "--data-dir", dir]);
  assert.equal(first.code, 0, first.stderr);
  const token = first.stdout.trimEnd().split("\n").at(-1) as string;
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(readFileSync(join(dir, "admin-token"), "utf8").trim(), token);
  assert.equal(statSync(join(dir, "admin-token")).mode & 0o777, 0o600);
  const again = await postino(["admin", "token", "--data-dir", dir]);
  assert.equal(again.stdout.trimEnd().split("\n").at(-1), token);
  const bad = await postino(["admin", "rotate"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown subcommand: rotate/);
});

test("the server's token is the one admin token prints, and the API takes it", async () => {
  const server = await startServer({ args: ["--http", "127.0.0.1:0"], users: ["alice@localhost"] });
  dirs.push(server.dataDir);
  try {
    await server.waitFor(/admin_http address=127\.0\.0\.1 port=\d+ token=created/);
    const port = Number(/admin_http \S+ port=(\d+)/.exec(server.output())?.[1]);
    const printed = await postino(["admin", "token", "--data-dir", server.dataDir]);
    const token = printed.stdout.trimEnd().split("\n").at(-1) as string;
    const health = await fetch(`http://127.0.0.1:${port}/api/health`);
    assert.equal(health.status, 200);
    const body = await health.json() as {
      status: string;
      commit: string;
      listeners: { port: number }[];
    };
    assert.equal(body.status, "ok");
    // The same build facts as `postino version` (the commit, or "unknown" outside git).
    const version = await postino(["version"]);
    assert.equal(body.commit, /commit (\S+)\)/.exec(version.stdout)?.[1]);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, new RegExp(`postino_build_info\\{[^}]*revision="${body.commit}"`));
    assert.equal(body.listeners[0]?.port, server.port);
    const denied = await fetch(`http://127.0.0.1:${port}/api/nothing-here`);
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const allowed = await fetch(`http://127.0.0.1:${port}/api/nothing-here`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(allowed.status, 404);
    assert.deepEqual(await allowed.json(), { error: "not found", path: "/api/nothing-here" });
    // No `terminal` plugin here: a browser terminal would wait for SEND that is refused.
    const terminal = await fetch(`http://127.0.0.1:${port}/api/terminal/alice@localhost`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(terminal.status, 409);
    assert.match((await terminal.json() as { error: string }).error, /terminal plugin is off/);
  } finally {
    await server.stop();
  }
});

test("a busy --http address stops the start with a clear error", async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const port = (blocker.address() as { port: number }).port;
  const dir = tempDir();
  dirs.push(dir);
  try {
    const result = await postino([
      "serve",
      "--listen",
      "127.0.0.1:0",
      "--http",
      `127.0.0.1:${port}`,
      "--data-dir",
      dir,
    ]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`admin HTTP listener 127\\.0\\.0\\.1:${port} \\(--http\\)`),
    );
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});
