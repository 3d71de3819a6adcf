/**
 * The two log channels (STYLE.md rule 11): mail events, one line each, and
 * an optional protocol trace with AUTH redacted. Passed in, never global;
 * this is the only module that calls `console`.
 *
 * Two formats: `text` (`ISO-time name key=value …`) and `json` (one object
 * per line: `time`, `event`, then the fields). Under systemd the text form
 * leaves out the time, because journald stamps every line itself.
 *
 * @module
 */
import { fstatSync } from "node:fs";
import process from "node:process";

/** Values a log field may hold. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** Where log lines go. */
export interface Logger {
  /** One mail-event line: connect, reject, queue, disconnect, … */
  event(name: string, fields: LogFields): void;
  /** A protocol line: `<` from the client, `>` to the client. */
  trace(conn: string, direction: "<" | ">", line: string): void;
  /** Whether trace lines are wanted (lets callers skip formatting). */
  readonly tracing: boolean;
}

/** How log lines look: `key=value` text, or one JSON object per line. */
export type LogFormat = "text" | "json";

/** The formats `--log-format` and `log_format` accept. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  verbose: boolean;
  /** `text` (the default) or `json`. */
  format?: LogFormat;
  /**
   * Whether text lines start with the time (default true). JSON lines
   * always carry `time`: whoever parses them wants it.
   */
  timestamps?: boolean;
  /** Sink for finished lines; defaults to stdout via `console.log`. */
  write?: (line: string) => void;
  /** The clock, for tests. */
  now?: () => Date;
}

function quote(value: string | number | boolean): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** Formats fields as `key=value` pairs, quoting where needed. */
export function formatFields(fields: LogFields): string {
  return Object.entries(fields)
    .filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined)
    .map(([key, value]) => `${key}=${quote(value)}`)
    .join(" ");
}

/**
 * Hides credentials in a protocol line: the argument of AUTH, and any line
 * sent while an AUTH exchange is in progress (`inAuth`).
 */
export function redactAuth(line: string, inAuth: boolean): string {
  if (inAuth) return "****";
  const match = /^(AUTH\s+\S+)\s+\S/i.exec(line);
  return match ? `${match[1]} ****` : line;
}

/**
 * One JSON log line: `time` and `event` first, then the fields. A field
 * named `time` or `event` cannot overwrite them; it gets a `_` suffix.
 */
export function formatJson(time: string, event: string, fields: LogFields): string {
  const record: Record<string, string | number | boolean> = { time, event };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    record[key === "time" || key === "event" ? `${key}_` : key] = value;
  }
  return JSON.stringify(record);
}

/**
 * Creates a logger.
 *
 * @example
 * ```ts
 * const log = createLogger({ verbose: false, format: "json" });
 * log.event("queued", { id: "Q1" }); // {"time":"…","event":"queued","id":"Q1"}
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  // deno-lint-ignore no-console
  const write = options.write ?? ((line: string) => console.log(line));
  const now = options.now ?? (() => new Date());
  const json = options.format === "json";
  const stamp = options.timestamps === false ? () => "" : () => `${now().toISOString()} `;
  const event = json
    ? (name: string, fields: LogFields) => write(formatJson(now().toISOString(), name, fields))
    : (name: string, fields: LogFields) =>
      write(`${stamp()}${name} ${formatFields(fields)}`.trimEnd());
  return {
    tracing: options.verbose,
    event,
    trace(conn, direction, line) {
      if (!options.verbose) return;
      if (json) event("trace", { conn, dir: direction, line });
      else write(`${stamp()}trace conn=${conn} ${direction} ${line}`);
    },
  };
}

/**
 * Whether `journalStream` (the `JOURNAL_STREAM` variable, `DEVICE:INODE`)
 * names `stdout`, i.e. our output goes straight to journald. systemd sets the
 * variable for a service's stdout; comparing it with the real stream, as
 * systemd.exec(5) advises, ignores one inherited by a child whose output was
 * redirected elsewhere.
 */
export function isJournalStream(
  journalStream: string | undefined,
  stdout: { dev: number; ino: number } | undefined,
): boolean {
  if (!journalStream || !stdout) return false;
  return journalStream === `${stdout.dev}:${stdout.ino}`;
}

/** Whether this process's stdout is connected to journald. */
export function stdoutIsJournal(): boolean {
  let stat: { dev: number; ino: number } | undefined;
  try {
    stat = fstatSync(1);
  } catch {
    stat = undefined; // no stdout at all
  }
  return isJournalStream(process.env["JOURNAL_STREAM"], stat);
}

/** A logger that drops everything (tests, benchmarks). */
export const SILENT_LOGGER: Logger = {
  tracing: false,
  event() {},
  trace() {},
};
