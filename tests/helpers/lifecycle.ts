/**
 * Helpers for tests that stop, reload and restart the real server: sending
 * signals, waiting for the exit code, reading replies, and looking at what
 * the server left behind (Maildir files and the queue).
 *
 * @example
 * ```ts
 * const server = await startServer({});
 * const exited = exitCode(server);
 * sendSignal(server, "SIGTERM");
 * assert.equal(await exited, 0);
 * assert.deepEqual(await queueIds(server.dataDir), []);
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { after } from "node:test";
import { postino, type RunningServer, type StartOptions, startServer } from "./server.ts";

/**
 * Temporary directories removed once the calling file's tests are done: the
 * data dirs of the servers `start` runs, and any other dir passed to `keep`.
 * Call it once, at the top level of a test file.
 */
export function scratchDirs(): {
  start(options: StartOptions): Promise<RunningServer>;
  keep(...dirs: string[]): void;
} {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return {
    async start(options) {
      const server = await startServer(options);
      dirs.push(server.dataDir);
      return server;
    },
    keep: (...more) => void dirs.push(...more),
  };
}

/** Anything that reads SMTP replies (RawClient, SmtpConn). */
export interface ReplyReader {
  reply(timeoutMs?: number): Promise<string[]>;
}

/**
 * Sends `signal` through `process.kill`: after `child.kill()` Deno's
 * node:child_process reports the exit as "killed by signal" even when the
 * child exited 0, which would hide the exit code under test.
 */
export function sendSignal(server: RunningServer, name: NodeJS.Signals): void {
  process.kill(server.child.pid as number, name);
}

/** Resolves with the exit code once the server process has ended. */
export function exitCode(server: RunningServer): Promise<number> {
  if (server.child.exitCode !== null) return Promise.resolve(server.child.exitCode);
  return new Promise((resolve) => server.child.once("exit", (code) => resolve(code ?? -1)));
}

/**
 * The exit code, or a failure once `timeoutMs` passed: a server that does
 * not stop must fail the test, not hang it.
 */
export async function exitWithin(server: RunningServer, timeoutMs: number): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`server still running after ${timeoutMs} ms:\n${server.output()}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([exitCode(server), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads one reply and checks its last line starts with `prefix`; returns that line. */
export async function expectReply(client: ReplyReader, prefix: string): Promise<string> {
  const reply = await client.reply();
  const last = reply[reply.length - 1] as string;
  assert.ok(last.startsWith(prefix), `expected "${prefix}", got ${JSON.stringify(reply)}`);
  return last;
}

/** The files in the `new/` folder of `address`'s Maildir under `dataDir`, as they are now. */
export function maildirFiles(dataDir: string, address: string): string[] {
  const at = address.lastIndexOf("@");
  const dir = join(dataDir, "mail", address.slice(at + 1), address.slice(0, at), "new");
  return existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : [];
}

/** One queued message, as `postino queue list --json` prints it. */
export interface QueuedMessage {
  id: string;
  recipients: { address: string; state: string; attempts: number }[];
}

/** The queue of the server in `dataDir`, read with `postino queue list --json`. */
export async function queueList(dataDir: string): Promise<QueuedMessage[]> {
  const listed = await postino(["queue", "list", "--json", "--data-dir", dataDir]);
  assert.equal(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout) as QueuedMessage[];
}

/** The ids of the messages queued in `dataDir`, sorted. */
export async function queueIds(dataDir: string): Promise<string[]> {
  return (await queueList(dataDir)).map((m) => m.id).sort();
}

/** The queue id in a `250 2.0.0 Ok: queued as ID` reply. */
export function queuedId(reply: string): string {
  const id = /queued as (\S+)/.exec(reply)?.[1];
  assert.ok(id, `no queue id in ${JSON.stringify(reply)}`);
  return id;
}

/**
 * Stops `server` with SIGTERM and waits at most `timeoutMs` for its exit;
 * a server that hangs is killed (SIGKILL) and the test fails with its
 * output, instead of hanging until the runner's timeout.
 */
export async function stopWithin(server: RunningServer, timeoutMs = 30_000): Promise<number> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) {
    return server.child.exitCode ?? -1;
  }
  const exited = exitCode(server);
  sendSignal(server, "SIGTERM");
  try {
    return await exitWithin(server, timeoutMs);
  } catch (error) {
    process.kill(server.child.pid as number, "SIGKILL");
    await exited;
    throw error;
  }
}
