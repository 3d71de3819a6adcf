/**
 * Assembles the outbound half: the spool, the scheduler and its deliverers
 * (local Maildir, remote SMTP, gateways) and the bouncer.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../core/config.ts";
import { localDeliverer } from "../core/delivery/local.ts";
import { createMxResolver } from "../core/delivery/mx.ts";
import { remoteDeliverer } from "../core/delivery/remote.ts";
import { nextHops, type NextHopsOptions } from "../core/delivery/routes.ts";
import { parseTlsPolicies } from "../core/delivery/tls_policy.ts";
import { MaildirWriter } from "../core/delivery/maildir.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import type { Logger } from "../core/log.ts";
import type { Clock } from "../core/queue/clock.ts";
import { createBouncer } from "../core/queue/bouncer.ts";
import { newQueueId } from "../core/queue/queue_id.ts";
import { outboundHooks } from "../core/queue/outbound_hooks.ts";
import { retryDelay } from "../core/queue/backoff.ts";
import { type Deliverer, type Route, Scheduler } from "../core/queue/scheduler.ts";
import type { DueMessage, DueRecipient, Outcome } from "../core/queue/spool.ts";
import { type Collector, createCollector } from "../core/delivery/reverse_delivery.ts";
import { SqliteSpool } from "../core/queue/sqlite_spool.ts";
import type { Runtime } from "../core/runtime/runtime.ts";
import type { Database } from "../core/runtime/sqlite.ts";
import type { Directory } from "../core/store/directory.ts";

/** What {@linkcode createDelivery} needs. */
export interface DeliverySetupOptions {
  runtime: Runtime;
  config: Config;
  db: Database;
  directory: Directory;
  log: Logger;
  clock: Clock;
  /** The current plugin chain, for the outbound hooks and gateways. */
  plugins(): readonly Plugin[];
}

/** How long a delivery attempt may hold a message before another may take it. */
export const LEASE_MS = 15 * 60_000;

/**
 * The default route: local domains go to Maildir, hold domains stay queued
 * for ATRN (`hold`), the rest go over SMTP per domain.
 */
export function defaultRoute(
  isLocalDomain: (domain: string) => boolean,
  isHoldDomain: (domain: string) => boolean = () => false,
): (message: DueMessage, recipient: DueRecipient) => Route {
  return (_message: DueMessage, recipient: DueRecipient): Route => {
    const domain = recipient.address.slice(recipient.address.lastIndexOf("@") + 1).toLowerCase();
    if (isLocalDomain(domain)) return { via: "local", key: "" };
    return isHoldDomain(domain) ? { via: "hold", key: domain } : { via: "smtp", key: domain };
  };
}

/**
 * The `hold` deliverer: mail for a hold domain waits for its owner to
 * collect it with ATRN (RFC 2645), never goes out by MX. Each attempt
 * defers it with the usual backoff (5 minutes, doubling to `retry_max`), so
 * the scheduler looks at it rarely and never spins; uncollected mail
 * expires after `max_queue_lifetime` and bounces, like any deferred mail.
 * Leasing skips nothing: the queue stays one simple list.
 */
export const HOLD_DELIVERER: Deliverer = {
  deliver: (_message, recipients) =>
    Promise.resolve(recipients.map((r): Outcome => ({
      address: r.address,
      status: "deferred",
      code: 450,
      enhanced: "4.2.0",
      text: "Held for collection with ATRN",
    }))),
};

/** The outbound half of a running server. */
export interface Delivery {
  spool: SqliteSpool;
  scheduler: Scheduler;
  /** Hands queued mail to ATRN collectors (the `turn` plugin). */
  collector: Collector;
  /**
   * Applies a reloaded config to delivery: local and hold domains, TLS
   * policies, next hops and the shutdown grace (the rest needs a restart,
   * see reload_scope.ts).
   */
  update(config: Config): void;
  /** Stops delivering and closes idle remote connections. */
  stop(): Promise<void>;
}

/** Builds the spool and the scheduler for `config`. */
export function createDelivery(options: DeliverySetupOptions): Delivery {
  const { config, directory } = options;
  // Replaced on reload (SIGHUP), so a domain added there is local for delivery too.
  let local = new Set(config.domains);
  const isLocalDomain = (domain: string) => local.has(domain.toLowerCase());
  let hold = new Set(config.holdDomains);
  const isHoldDomain = (domain: string) => hold.has(domain.toLowerCase());
  // Replaced on reload too. The config has validated the table already.
  let tlsPolicies = parseTlsPolicies(config.tlsPolicy, config.outboundTls);
  // Read once at start: a test CA (or a private one) for `verify` policies.
  const ca = config.tlsCaFile === undefined ? undefined : readCaFile(config.tlsCaFile);
  const spool = new SqliteSpool(options.db);
  const writer = new MaildirWriter(join(config.dataDir, "mail"), config.hostname);
  const hasMailbox = (address: string) => {
    const at = address.lastIndexOf("@");
    const isPostmaster = address.slice(0, at).toLowerCase() === "postmaster" &&
      isLocalDomain(address.slice(at + 1));
    return isPostmaster || directory.getUser(address) !== undefined;
  };
  const bounce = createBouncer({
    spool,
    hostname: config.hostname,
    now: () => options.clock.now(),
    newQueueId: () => newQueueId(),
    queued: () => scheduler.wake(),
    log: options.log,
    maxQueueLifetimeMs: config.maxQueueLifetimeMs,
  });
  // Replaced on reload: a new smart host or transport entry applies to the next attempt.
  let hops = nextHopOptions(config);
  let graceMs = config.shutdownGraceMs;
  const resolver = createMxResolver(
    config.dnsServer === undefined ? {} : { server: config.dnsServer },
  );
  const remote = remoteDeliverer({
    runtime: options.runtime,
    nextHops: (domain) => nextHops(domain, { ...hops, resolver }),
    heloName: config.hostname,
    timeouts: config.clientTimeouts,
    tls: (domain) => tlsPolicies.policyFor(domain),
    ...(ca === undefined ? {} : { ca }),
    log: options.log,
  });
  const hooks = outboundHooks({
    plugins: options.plugins,
    fallback: defaultRoute(isLocalDomain, isHoldDomain),
    builtins: { local: localDeliverer({ writer, hasMailbox }), smtp: remote, hold: HOLD_DELIVERER },
    timeoutMs: config.hookTimeoutMs,
    log: options.log,
  });
  const retry = {
    initialMs: config.retryInitialMs,
    maxMs: config.retryMaxMs,
    maxAgeMs: config.maxQueueLifetimeMs,
    jitter: 0.2,
  };
  const collector = createCollector({
    spool,
    heloName: config.hostname,
    timeouts: config.clientTimeouts,
    leaseMs: LEASE_MS,
    now: () => options.clock.now(),
    retryAt: (attempts, now) => now + retryDelay(attempts, retry),
    maxAgeMs: config.maxQueueLifetimeMs,
    bounce,
    log: options.log,
  });
  const scheduler: Scheduler = new Scheduler({
    spool,
    clock: options.clock,
    retry,
    concurrency: config.deliveryConcurrency,
    leaseMs: LEASE_MS,
    pollMs: 5_000,
    ...hooks,
    bounce,
    delayWarningMs: config.delayWarningMs,
    log: options.log,
  });
  return {
    spool,
    scheduler,
    collector,
    update(next) {
      local = new Set(next.domains);
      hold = new Set(next.holdDomains);
      tlsPolicies = parseTlsPolicies(next.tlsPolicy, next.outboundTls);
      hops = nextHopOptions(next);
      graceMs = next.shutdownGraceMs;
    },
    async stop() {
      await scheduler.stop(graceMs);
      await remote.close();
    },
  };
}

/** Where remote mail goes next under `config`: `relay_host`, `[transport]`, `smtp_port`. */
function nextHopOptions(config: Config): Omit<NextHopsOptions, "resolver"> {
  return {
    ...(config.relayHost
      ? { relayHost: { host: config.relayHost.hostname, port: config.relayHost.port } }
      : {}),
    transports: new Map(
      Object.entries(config.transport).map(([domain, hop]) => [
        domain,
        { host: hop.hostname, port: hop.port },
      ]),
    ),
    defaultPort: config.smtpPort,
  };
}

/** The PEM trust anchors in `path`, or an error that names the file. */
function readCaFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`tls_ca_file: cannot read ${path}: ${(error as Error).message}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`tls_ca_file: ${path} holds no PEM certificate`);
  }
  return text;
}
