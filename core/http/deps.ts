/**
 * What the admin HTTP API and the web UI may use: the live server's parts,
 * handed in by `cli/serve.ts`. Routes read and steer these; they never open
 * their own database or files outside `mailRoot`.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { EventBus } from "../events.ts";
import type { ServerMetrics } from "../server_metrics.ts";
import type { SqliteSpool } from "../queue/sqlite_spool.ts";
import type { Endpoint } from "../runtime/conn.ts";
import type { Directory } from "../store/directory.ts";
import type { TerminalHub } from "../terminal/hub.ts";

/** One bound SMTP listener, as health reports it. */
export interface ListenerStatus {
  readonly kind: string;
  readonly address: string;
  readonly port: number;
}

/** The live server, as the admin app sees it. */
export interface AdminDeps {
  /** The configuration in force (it changes on SIGHUP). */
  config(): Config;
  /** The queue: list, flush, hold, remove, count. */
  readonly spool: SqliteSpool;
  /** Tells the scheduler to look at the spool now (after flush or release). */
  wakeScheduler(): void;
  /** Users, aliases and grants. */
  readonly directory: Directory;
  /** Live mail events (also the source of the metrics). */
  readonly events: EventBus;
  /** Counters since start, for `/metrics` and `/api/stats` (they survive reloads). */
  readonly metrics: ServerMetrics;
  /** Open terminals for SEND/SOML/SAML; the web UI can open one. */
  readonly terminals: TerminalHub;
  /** The `mail` folder that holds `<domain>/<user>` Maildirs. */
  readonly mailRoot: string;
  /** Live SMTP sessions. */
  connections(): number;
  /** The bound SMTP listeners. */
  listeners(): ListenerStatus[];
  /** Whether the server is stopping (health answers 503 then). */
  stopping(): boolean;
  /** The admin token (`postino admin token`). */
  readonly token: string;
  /** Requests need no token (`http_open_loopback` on a loopback bind). */
  readonly open: boolean;
  readonly version: string;
  /** The commit the build came from, or "unknown". */
  readonly commit: string;
  readonly runtime: string;
  /** When the server started, ms since the epoch. */
  readonly startedAt: number;
  now(): number;
}

/** Builds {@linkcode ListenerStatus} rows from endpoints and the config's kinds. */
export function listenerStatus(
  endpoints: readonly Endpoint[],
  kinds: readonly string[],
): ListenerStatus[] {
  return endpoints.map((e, i) => ({ kind: kinds[i] ?? "smtp", address: e.address, port: e.port }));
}
