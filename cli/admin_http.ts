/**
 * Starts the admin HTTP listener for `postino serve`: the token, the hono
 * app and the runtime's HTTP server, and stops them again.
 *
 * @module
 */
import { isIP } from "node:net";
import type { Config } from "../core/config.ts";
import type { EventBus } from "../core/events.ts";
import type { ServerMetrics } from "../core/server_metrics.ts";
import { createAdminApp } from "../core/http/app.ts";
import { listenerStatus } from "../core/http/deps.ts";
import { ensureAdminToken } from "../core/http/token.ts";
import type { Logger } from "../core/log.ts";
import type { SqliteSpool } from "../core/queue/sqlite_spool.ts";
import { serveHttp } from "../core/runtime/http.ts";
import type { Server } from "../core/server.ts";
import type { Directory } from "../core/store/directory.ts";
import type { TerminalHub } from "../core/terminal/hub.ts";
import { join } from "node:path";

/** What {@linkcode startAdminHttp} needs from `serve`. */
export interface AdminHttpOptions {
  /** The configuration at start (the bind address is read once). */
  config: Config;
  /** The configuration in force now (reloads change it). */
  current(): Config;
  server: Server;
  spool: SqliteSpool;
  wakeScheduler(): void;
  directory: Directory;
  events: EventBus;
  /** Created at start, so it counts from the first event. */
  metrics: ServerMetrics;
  terminals: TerminalHub;
  log: Logger;
  runtime: string;
  version: string;
  /** The build's commit (`postino version`). */
  commit: string;
  stopping(): boolean;
}

/** The running admin listener. */
export interface AdminHttp {
  readonly port: number;
  close(): Promise<void>;
}

/** Whether `hostname` is a loopback address (127.0.0.0/8, ::1, localhost). */
export function isLoopback(hostname: string): boolean {
  if (hostname === "localhost") return true;
  if (isIP(hostname) === 4) return hostname.startsWith("127.");
  return hostname === "::1" || hostname === "[::1]";
}

/**
 * Whether the admin token is waived: `http_open_loopback` on a loopback
 * bind only, so a public bind never serves the API without a token.
 */
export function tokenWaived(config: Pick<Config, "http" | "httpOpenLoopback">): boolean {
  return config.httpOpenLoopback && config.http !== undefined &&
    isLoopback(config.http.hostname);
}

/**
 * Binds `config.http` unless it is off.
 *
 * @throws When the address cannot be bound, like an SMTP listener.
 */
export async function startAdminHttp(options: AdminHttpOptions): Promise<AdminHttp | undefined> {
  const { config, log } = options;
  if (config.http === undefined) return undefined;
  const { token, created } = ensureAdminToken(config.dataDir);
  const loopback = isLoopback(config.http.hostname);
  if (config.httpOpenLoopback && !loopback) {
    log.event("admin_http_warning", {
      message: "http_open_loopback ignored: the bind address is not loopback",
    });
  }
  const open = tokenWaived(config);
  const kinds = config.listeners.map((l) => l.kind);
  const app = createAdminApp({
    config: options.current,
    spool: options.spool,
    wakeScheduler: options.wakeScheduler,
    directory: options.directory,
    events: options.events,
    metrics: options.metrics,
    terminals: options.terminals,
    mailRoot: join(config.dataDir, "mail"),
    connections: () => options.server.connections,
    listeners: () => listenerStatus(options.server.endpoints, kinds),
    stopping: options.stopping,
    token,
    open,
    version: options.version,
    commit: options.commit,
    runtime: options.runtime,
    startedAt: Date.now(),
    now: () => Date.now(),
  });
  const where = `${config.http.hostname}:${config.http.port}`;
  const http = await serveHttp(config.http, app.fetch).catch((error: Error) => {
    throw new Error(`admin HTTP listener ${where} (--http): ${error.message}`);
  });
  log.event("admin_http", {
    address: config.http.hostname,
    port: http.port,
    token: open ? "not required (http_open_loopback)" : created ? "created" : "required",
  });
  return {
    port: http.port,
    async close() {
      app.close();
      await http.close();
    },
  };
}
