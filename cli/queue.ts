/**
 * `postino queue …`: look at and steer the outgoing queue from the shell.
 * The commands work on `<data-dir>/postino.db` directly, so they work with
 * the server up or down; a running server sees every change on its next
 * spool poll (every 5 s).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseSubcommand, type SubcommandSpec, type Values } from "./subcommands.ts";
import { queueListingJson } from "../core/queue/queue_json.ts";
import type { QueueListing } from "../core/queue/spool.ts";
import { SqliteSpool } from "../core/queue/sqlite_spool.ts";
import type { Runtime } from "../core/runtime/runtime.ts";
import type { Database } from "../core/runtime/sqlite.ts";
import { Message } from "../core/smtp/message.ts";
import type { CliIo } from "./users.ts";

/** What the queue commands need from the outside world, so tests can fake it. */
export interface QueueIo extends Pick<CliIo, "stdout" | "stderr"> {
  /** Opens `<dataDir>/postino.db`; fails when there is none. */
  openDatabase(dataDir: string): Promise<Database>;
  /** Milliseconds since the epoch. */
  now(): number;
}

/**
 * Opens the existing database in `<dataDir>/postino.db`: the production
 * {@linkcode QueueIo.openDatabase}. Unlike `postino user add`, it never
 * creates one: a mistyped `--data-dir` must not queue mail nobody delivers.
 *
 * @throws {TypeError} When there is no database there.
 */
export function openDatabaseAt(runtime: Runtime, dataDir: string): Promise<Database> {
  const path = join(dataDir, "postino.db");
  if (!existsSync(path)) {
    return Promise.reject(new TypeError(`no database at ${path} (check --data-dir)`));
  }
  return Promise.resolve(runtime.openDatabase(path));
}

interface Context {
  readonly args: string[];
  readonly values: Values;
  readonly io: QueueIo;
  readonly spool: SqliteSpool;
  readonly db: Database;
}

/** One subcommand, shaped like those of `cli/users.ts`. */
interface Subcommand extends SubcommandSpec {
  /** Returns an exit code, or a message for a failure (exit code 1). */
  run(context: Context): number | string;
}

/** "42s", "5m", "3h", "2d": how long ago (or until) `ms` is. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

function find(spool: SqliteSpool, id: string): QueueListing | undefined {
  return spool.listing(id);
}

function describe(message: QueueListing, now: number): string[] {
  const held = message.held ? "  HELD" : "";
  const lines = [
    `${message.id}  ${message.size} B  ${formatDuration(now - message.receivedAt)} old  ` +
    `from <${message.sender}>${held}`,
  ];
  for (const r of message.recipients) {
    const next = r.state !== "queued"
      ? ""
      : r.nextAttempt <= now
      ? "  next: now"
      : `  next: in ${formatDuration(r.nextAttempt - now)}`;
    const error = r.lastError === undefined ? "" : `  last error: ${r.lastError}`;
    lines.push(`  <${r.address}>  ${r.state}  attempts: ${r.attempts}${next}${error}`);
  }
  return lines;
}

/** Applies `change` to every id; names each unknown one and exits 1 if any. */
function eachId(
  { args, io }: Context,
  verb: string,
  change: (id: string) => boolean,
): number {
  let code = 0;
  for (const id of args) {
    if (change(id)) io.stdout(`${verb} ${id}`);
    else {
      io.stderr(`postino queue: no such message: ${id}`);
      code = 1;
    }
  }
  return code;
}

const COMMANDS: Record<string, Subcommand> = {
  list: {
    usage: "queue list [--json] [--data-dir DIR]",
    options: { json: { type: "boolean" } },
    args: [0, 0],
    run({ values, io, spool }) {
      const now = io.now();
      const messages = spool.list();
      if (values["json"] === true) {
        io.stdout(JSON.stringify(messages.map((m) => queueListingJson(m, now)), null, 2));
      } else if (messages.length === 0) io.stdout("queue is empty");
      else {for (const message of messages) {
          for (const line of describe(message, now)) io.stdout(line);
        }}
      return 0;
    },
  },
  show: {
    usage: "queue show ID [--data-dir DIR]",
    args: [1, 1],
    run({ args: [id = ""], io, spool }) {
      const message = find(spool, id);
      const stored = spool.stored(id);
      if (message === undefined || stored === undefined) return `no such message: ${id}`;
      for (const line of describe(message, io.now())) io.stdout(line);
      io.stdout(`  received: ${new Date(message.receivedAt).toISOString()}`);
      io.stdout(`  params: ${JSON.stringify(stored.params)}`);
      io.stdout("");
      const parsed = Message.parse(stored.data);
      const headers = new TextDecoder().decode(
        parsed.toBytes().subarray(
          0,
          parsed.size - parsed.body.byteLength,
        ),
      );
      for (const line of headers.split("\r\n")) if (line !== "") io.stdout(line);
      return 0;
    },
  },
  flush: {
    usage: "queue flush [ID | --domain DOMAIN] [--data-dir DIR]",
    options: { domain: { type: "string" } },
    args: [0, 1],
    run({ args: [id], values, io, spool }) {
      const domain = typeof values["domain"] === "string" ? values["domain"] : undefined;
      if (id !== undefined && domain !== undefined) {
        io.stderr("postino queue flush: give an ID or --domain, not both");
        return 2;
      }
      if (id !== undefined && find(spool, id) === undefined) return `no such message: ${id}`;
      const n = spool.flush(id !== undefined ? { id } : domain !== undefined ? { domain } : {});
      io.stdout(`${n} recipient(s) due now; the server picks them up within 5 s`);
      return 0;
    },
  },
  remove: {
    usage: "queue remove ID... [--data-dir DIR]",
    args: [1, Infinity],
    run: (context) => eachId(context, "removed", (id) => context.spool.remove(id)),
  },
  hold: {
    usage: "queue hold ID... [--data-dir DIR]",
    args: [1, Infinity],
    run: (context) => eachId(context, "held", (id) => context.spool.hold(id, true)),
  },
  release: {
    usage: "queue release ID... [--data-dir DIR]",
    args: [1, Infinity],
    run: (context) => eachId(context, "released", (id) => context.spool.hold(id, false)),
  },
};

const FOOTER = "A running server sees changes on its next spool poll (every 5 s).";

/**
 * Runs `postino queue SUBCOMMAND …`: `list`, `show`, `flush`, `remove`,
 * `hold` and `release`.
 *
 * @param args The arguments after `queue`, e.g. `["hold", "3n7WQkd9xLq2Bt"]`.
 * @param io Output, the clock and access to the database.
 * @returns The exit code: 0 done, 1 failed (an unknown id), 2 bad usage.
 *
 * @example
 * ```ts
 * // postino queue list --json --data-dir /var/lib/postino
 * const code = await runQueueCommand(["list", "--json", "--data-dir", "/var/lib/postino"], io);
 * ```
 */
export async function runQueueCommand(args: string[], io: QueueIo): Promise<number> {
  const parsed = parseSubcommand("queue", COMMANDS, args, io, FOOTER);
  if ("code" in parsed) return parsed.code;
  const { name, command, values, positionals, dataDir } = parsed;
  let db: Database;
  try {
    db = await io.openDatabase(dataDir);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    io.stderr(`postino queue ${name}: ${error.message}`);
    return 1;
  }
  try {
    const result = command.run({ args: positionals, values, io, spool: new SqliteSpool(db), db });
    if (typeof result === "number") return result;
    io.stderr(`postino queue ${name}: ${result}`);
    return 1;
  } finally {
    db.close();
  }
}
