/**
 * For the web UI's unit tests: the admin app over real parts (a SQLite
 * spool and directory in a temporary folder, an event bus, a terminal hub)
 * with a fixed token, and a logged-in `fetch`. Not used by the server.
 *
 * @module
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig } from "../../config.ts";
import { EventBus } from "../../events.ts";
import type { NewMessage } from "../../queue/spool.ts";
import { SqliteSpool } from "../../queue/sqlite_spool.ts";
import { loadRuntime } from "../../runtime/runtime.ts";
import { ServerMetrics } from "../../server_metrics.ts";
import { Directory } from "../../store/directory.ts";
import { TerminalHub } from "../../terminal/hub.ts";
import { SESSION_COOKIE, sessionValue } from "../access.ts";
import { type AdminApp, createAdminApp } from "../app.ts";
import type { AdminDeps } from "../deps.ts";

/** The token of every test app. */
export const TEST_TOKEN = "t".repeat(43);

/** The app's origin in test requests. */
export const ORIGIN = "http://127.0.0.1:8025";

/** A test app and its parts. */
export interface TestApp {
  app: AdminApp;
  deps: AdminDeps;
  spool: SqliteSpool;
  directory: Directory;
  events: EventBus;
  dataDir: string;
  /** A request as a logged-in browser on our own pages sends it. */
  browse(path: string, init?: RequestInit): Promise<Response>;
  /** A same-origin form POST as a logged-in browser sends it. */
  post(path: string, form: Record<string, string>): Promise<Response>;
  close(): void;
}

/** Builds a test app; `plugins` go into its config. */
export async function testApp(options: { plugins?: string[] } = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), "postino-ui-"));
  mkdirSync(join(dataDir, "mail"));
  const runtime = await loadRuntime();
  const db = runtime.openDatabase(join(dataDir, "postino.db"));
  const spool = new SqliteSpool(db);
  const directory = new Directory(db);
  const events = new EventBus();
  const config = validateConfig({
    hostname: "mx.example.org",
    domains: ["example.org"],
    data_dir: dataDir,
    plugins: options.plugins ?? [],
  }, "test");
  let wakes = 0;
  const deps: AdminDeps = {
    config: () => config,
    spool,
    wakeScheduler: () => void wakes++,
    directory,
    events,
    metrics: new ServerMetrics({ version: "0.0.0-test", runtime: runtime.name }),
    terminals: new TerminalHub(),
    mailRoot: join(dataDir, "mail"),
    connections: () => 0,
    listeners: () => [{ kind: "smtp", address: "127.0.0.1", port: 2525 }],
    stopping: () => false,
    token: TEST_TOKEN,
    open: false,
    version: "0.0.0-test",
    commit: "abc1234",
    runtime: runtime.name,
    startedAt: Date.now() - 90_000,
    now: () => Date.now(),
  };
  const app = createAdminApp(deps);
  const cookie = `${SESSION_COOKIE}=${sessionValue(TEST_TOKEN)}`;
  const browse = async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set("cookie", cookie);
    return await app.fetch(new Request(ORIGIN + path, { ...init, headers, redirect: "manual" }));
  };
  return {
    app,
    deps,
    spool,
    directory,
    events,
    dataDir,
    browse,
    post: (path, form) =>
      browse(path, {
        method: "POST",
        headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form).toString(),
      }),
    close() {
      app.close();
      db.close();
    },
  };
}

/** A message for the test spool, to remote recipients. */
export function queuedMessage(id: string, data: string, recipients: string[]): NewMessage {
  return {
    id,
    sender: "bob@example.net",
    params: { smtputf8: false, eightBit: false, ret: "HDRS" },
    data: new TextEncoder().encode(data),
    receivedAt: Date.now() - 60_000,
    isBounce: false,
    recipients: recipients.map((address) => ({ address, original: address })),
  };
}
