/**
 * The two log channels (STYLE.md rule 11): mail events, one line each, and
 * an optional protocol trace with AUTH redacted. Passed in, never global;
 * this is the only module that calls `console`.
 *
 * @module
 */

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

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  verbose: boolean;
  /** Sink for finished lines; defaults to stdout via `console.log`. */
  write?: (line: string) => void;
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

/** Creates a logger writing timestamped lines. */
export function createLogger(options: LoggerOptions): Logger {
  // deno-lint-ignore no-console
  const write = options.write ?? ((line: string) => console.log(line));
  return {
    tracing: options.verbose,
    event(name, fields) {
      write(`${new Date().toISOString()} ${name} ${formatFields(fields)}`.trimEnd());
    },
    trace(conn, direction, line) {
      if (options.verbose) {
        write(`${new Date().toISOString()} trace conn=${conn} ${direction} ${line}`);
      }
    },
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const SILENT_LOGGER: Logger = {
  tracing: false,
  event() {},
  trace() {},
};
