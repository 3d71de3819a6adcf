/**
 * The SQLite seam: `bun:sqlite` on Bun and `node:sqlite` on Deno share this
 * shape once the adapter smooths out their small differences.
 *
 * @module
 */

/** A value SQLite can bind or return. */
export type SqlValue = string | number | bigint | Uint8Array | null;

/** A row as an object keyed by column name. */
export type Row = Record<string, SqlValue>;

/** A prepared statement with positional parameters. */
export interface Statement {
  run(...params: SqlValue[]): { changes: number };
  /** The first row, or `undefined` when there is none. */
  get(...params: SqlValue[]): Row | undefined;
  all(...params: SqlValue[]): Row[];
}

/** An open database connection. */
export interface Database {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  /** Runs `fn` inside BEGIN IMMEDIATE … COMMIT, rolling back if it throws. */
  transaction<T>(fn: () => T): T;
  close(): void;
}

/** Settings every Postino database uses: WAL, and fsync at each commit. */
export const PRAGMAS = [
  "PRAGMA journal_mode = WAL",
  // A 250 reply means the commit is on disk: never weaken this for speed.
  "PRAGMA synchronous = FULL",
  "PRAGMA busy_timeout = 5000",
  "PRAGMA foreign_keys = ON",
];

/** Wraps a driver's `exec` in a BEGIN IMMEDIATE transaction helper. */
export function runTransaction<T>(exec: (sql: string) => void, fn: () => T): T {
  exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    exec("COMMIT");
    return result;
  } catch (error) {
    exec("ROLLBACK");
    throw error;
  }
}
