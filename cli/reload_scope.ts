/**
 * What a reload (SIGHUP) cannot change. Sessions, plugins, certificates,
 * local domains and the next hop of outbound mail take a new config at
 * once; the settings below are read once at start, so a reload that
 * changes them says so in a `reload_note` instead of pretending.
 *
 * @module
 */
import type { Config } from "../core/config.ts";

/** Settings read only at start, with the names an admin knows them by. */
const RESTART_ONLY: readonly (readonly [keyof Config, string])[] = [
  ["listeners", "listeners"],
  ["dataDir", "data_dir"],
  // New sessions greet with a new name at once; delivery keeps the old one in
  // its HELO, bounces and Maildir file names until a restart.
  ["hostname", "hostname (for delivery)"],
  ["http", "http"],
  ["httpOpenLoopback", "http_open_loopback"],
  ["verbose", "verbose"],
  ["logFormat", "log_format"],
  ["dnsServer", "dns_server"],
  ["tlsCaFile", "tls_ca_file"],
  ["clientTimeouts", "client_timeouts"],
  ["deliveryConcurrency", "delivery_concurrency"],
  ["retryInitialMs", "retry_initial"],
  ["retryMaxMs", "retry_max"],
  ["maxQueueLifetimeMs", "max_queue_lifetime"],
  ["delayWarningMs", "delay_warning"],
];

/**
 * The settings that differ between `running` (the config the process
 * started with) and `next` but only take effect after a restart.
 *
 * @example
 * ```ts
 * const later = needsRestart(startConfig, reloaded); // ["delivery_concurrency"]
 * if (later.length > 0) log.event("reload_note", { restart_needed: later.join(",") });
 * ```
 */
export function needsRestart(running: Config, next: Config): string[] {
  return RESTART_ONLY
    .filter(([key]) => JSON.stringify(running[key]) !== JSON.stringify(next[key]))
    .map(([, name]) => name);
}
