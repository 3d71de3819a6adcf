/**
 * `postino serve`: wires config, runtime, directory, plugins and server
 * together, and handles SIGTERM (graceful stop) and SIGHUP (reload).
 *
 * @module
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { type Config, type RawConfig, validateConfig } from "../core/config.ts";
import { DECISIONS, type PluginHost } from "../core/hooks/host.ts";
import { AuthLimiter } from "../core/auth/limiter.ts";
import { HookRunner, type HookTiming } from "../core/hooks/runner.ts";
import { createLogger, type Logger, stdoutIsJournal } from "../core/log.ts";
import { createNotifier, listeningStatus } from "../core/notify.ts";
import { closeUnclaimedSockets, socketActivation } from "./socket_activation.ts";
import { EventBus, observeLogger } from "../core/events.ts";
import { ServerMetrics } from "../core/server_metrics.ts";
import { type AdminHttp, startAdminHttp } from "./admin_http.ts";
import { SYSTEM_CLOCK } from "../core/queue/clock.ts";
import type { Scheduler } from "../core/queue/scheduler.ts";
import type { Spool } from "../core/queue/spool.ts";
import type { Collector } from "../core/delivery/reverse_delivery.ts";
import type { Runtime } from "../core/runtime/runtime.ts";
import { Server, type ServerSetup } from "../core/server.ts";
import { Directory } from "../core/store/directory.ts";
import { CONTROL_SOCKET, startControlServer } from "../core/terminal/control_server.ts";
import { TerminalHub } from "../core/terminal/hub.ts";
import { buildChain } from "../plugins/registry.ts";
import { mergeFlags, readConfigFile, type ServeFlags } from "./config_file.ts";
import { createDelivery, LEASE_MS } from "./delivery_setup.ts";
import { loadTlsFiles } from "./tls_files.ts";
import { ChainCloser } from "./plugin_chains.ts";
import { needsRestart } from "./reload_scope.ts";

/** Usage of `postino serve`. */
export const SERVE_USAGE = `Usage: postino serve [options]

Options:
  --config FILE             TOML config file (flags override it)
  --listen HOST:PORT        address to listen on (repeatable; default 127.0.0.1:2525)
  --hostname NAME           name used in the greeting and Received headers
  --domain DOMAIN           local domain (repeatable; default localhost)
  --data-dir DIR            where postino.db and the Maildirs live (default ./data)
  --max-message-size BYTES  largest message accepted (default 10485760)
  --plugin NAME|FILE        plugin to run before the built-ins (repeatable)
  --relay-network CIDR      clients allowed to relay (repeatable; default none)
  --submission HOST:PORT    submission listener: STARTTLS, then AUTH before MAIL (repeatable)
  --tls-listen HOST:PORT    implicit-TLS submission listener, e.g. port 465 (repeatable)
  --odmr HOST:PORT          ODMR listener for ATRN collectors, e.g. port 366 (RFC 2645; repeatable)
  --hold-domain DOMAIN      accept mail for DOMAIN and hold it for ATRN (needs --plugin turn; repeatable)
  --tls-cert FILE           PEM certificate chain for STARTTLS and implicit TLS
  --tls-key FILE            PEM private key
  --relay-host HOST:PORT    send all non-local mail through this smart host
  --dns-server HOST:PORT    DNS server for MX lookups (default: the system's)
  --http HOST:PORT|off      admin API, web UI and /metrics (default 127.0.0.1:8025)
  --http-open-loopback      development: no admin token on a loopback --http bind
  --verbose                 log the SMTP protocol trace (AUTH redacted)
  --log-format text|json    key=value lines (default) or one JSON object per line
  -h, --help                show this help`;

/** The `serve` option table, shared with `check-config`. */
export const SERVE_OPTIONS = {
  config: { type: "string" },
  listen: { type: "string", multiple: true },
  hostname: { type: "string" },
  domain: { type: "string", multiple: true },
  "data-dir": { type: "string" },
  "max-message-size": { type: "string" },
  plugin: { type: "string", multiple: true },
  "relay-network": { type: "string", multiple: true },
  submission: { type: "string", multiple: true },
  "tls-listen": { type: "string", multiple: true },
  odmr: { type: "string", multiple: true },
  "hold-domain": { type: "string", multiple: true },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "relay-host": { type: "string" },
  "dns-server": { type: "string" },
  http: { type: "string" },
  "http-open-loopback": { type: "boolean" },
  verbose: { type: "boolean" },
  "log-format": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Parses `serve` arguments into flags and the config file path. */
export function parseServeArgs(
  args: string[],
): { flags: ServeFlags; file?: string; help: boolean } {
  const { values } = parseArgs({
    args,
    options: SERVE_OPTIONS,
    strict: true,
    allowPositionals: false,
  });
  const { config, help, ...flags } = values;
  return config === undefined
    ? { flags, help: help ?? false }
    : { flags, file: config, help: help ?? false };
}

/** Reads the file (if any), lays the flags over it and validates. */
export async function loadConfig(file: string | undefined, flags: ServeFlags): Promise<Config> {
  const raw: RawConfig = file ? await readConfigFile(file) : {};
  return validateConfig(mergeFlags(raw, flags), file ?? "command line");
}

/** Builds the plugin chain and hook runner for one configuration. */
async function buildSetup(
  config: Config,
  directory: Directory,
  delivery: { spool: Spool; scheduler: Scheduler; collector?: Collector },
  log: Logger,
  limiter: AuthLimiter,
  terminals: TerminalHub,
  timing?: HookTiming,
): Promise<ServerSetup> {
  const local = new Set(config.domains);
  const isLocalDomain = (domain: string) => local.has(domain.toLowerCase());
  const hostFor = (spec: { name: string; options: Record<string, unknown> }): PluginHost => ({
    ...DECISIONS,
    options: spec.options,
    hostname: config.hostname,
    domains: config.domains,
    isLocalDomain,
    directory: {
      resolve: (address) => directory.resolve(address, isLocalDomain),
      isUser: (address) => directory.getUser(address) !== undefined,
      entry: (address) => directory.getEntry(address),
      findByLocalPart: (local) => directory.findByLocalPart(local),
      findByName: (fragment) => directory.findByName(fragment),
      aliasMembers: (address) => directory.getAlias(address),
    },
    dataDir: config.dataDir,
    log: {
      info: (message, fields) => log.event("plugin", { plugin: spec.name, message, ...fields }),
      warn: (message, fields) =>
        log.event("plugin_warn", { plugin: spec.name, message, ...fields }),
    },
  });
  const plugins = await buildChain(config.plugins, hostFor, {
    spool: {
      spool: delivery.spool,
      maxQueued: config.maxQueued,
      queued: () => delivery.scheduler.wake(),
      worker: {
        reserve: () => delivery.scheduler.reserve(),
        release: () => delivery.scheduler.release(),
        deliverLeased: (message) => delivery.scheduler.deliverLeased(message),
        leaseMs: LEASE_MS,
      },
      now: () => SYSTEM_CLOCK.now(),
    },
    relayNetworks: config.relayNetworks,
    senderLoginCheck: config.senderLoginCheck,
    queue: delivery.spool,
    ...(delivery.collector ? { collector: delivery.collector } : {}),
    grants: (user) => directory.grantedDomains(user),
    holdDomains: config.holdDomains,
    terminals,
  }, config.pluginOptions);
  // Certificates are read here, so SIGHUP picks up renewed ones (RFC 3207 sessions keep theirs).
  const tls = config.tls ? await loadTlsFiles(config.tls) : undefined;
  return {
    config,
    runner: new HookRunner(plugins, {
      timeoutMs: config.hookTimeoutMs,
      log,
      ...(timing ? { timing } : {}),
    }),
    tls,
    auth: { verify: (user, password) => directory.verifyPassword(user, password), limiter },
  };
}

/** Runs the server until SIGTERM/SIGINT. Resolves with the exit code. */
export async function runServe(
  runtime: Runtime,
  args: string[],
  build: { version: string; commit: string } = { version: "unknown", commit: "unknown" },
): Promise<number> {
  const { version, commit } = build;
  const { flags, file, help } = parseServeArgs(args);
  if (help) {
    process.stdout.write(SERVE_USAGE + "\n");
    return 0;
  }
  const config = await loadConfig(file, flags);
  // Every logged event also reaches the admin API's event stream and metrics.
  const events = new EventBus();
  const log = observeLogger(
    createLogger({
      verbose: config.verbose,
      format: config.logFormat,
      // journald stamps each line itself (README "Run it as a service").
      timestamps: !stdoutIsJournal(),
    }),
    events,
  );
  // From the first event on, for the life of the process: reloads keep the counts.
  const metrics = new ServerMetrics({ version, commit, runtime: runtime.name });
  metrics.observe(events);
  await mkdir(config.dataDir, { recursive: true });
  const db = runtime.openDatabase(join(config.dataDir, "postino.db"));
  const directory = new Directory(db);
  // `setup` is assigned just below; the scheduler reads it only once started.
  const delivery = createDelivery({
    runtime,
    plugins: () => setup.runner.plugins,
    config,
    db,
    directory,
    log,
    clock: SYSTEM_CLOCK,
  });
  // One limiter for the life of the process: a reload must not forgive guessers.
  const limiter = new AuthLimiter({ now: () => Date.now() });
  // Open terminals (`postino watch`) outlive reloads, like the limiter.
  const terminals = new TerminalHub();
  let setup = await buildSetup(
    config,
    directory,
    delivery,
    log,
    limiter,
    terminals,
    metrics.hookTiming,
  );
  // systemd socket activation: a listener whose address systemd passed in serves that socket.
  const activation = await socketActivation(log);
  const server = new Server(activation?.wrap(runtime) ?? runtime, log, setup);
  // Plugin.close(): a chain a reload replaced once its last session ends, the rest at stop.
  const chains = new ChainCloser({
    log,
    timeoutMs: config.hookTimeoutMs,
    whenUnused: (runner: HookRunner) => server.whenUnused(runner),
  });
  // systemd (Type=notify): READY=1 once listening, RELOADING=1 … READY=1 around SIGHUP, STOPPING=1.
  const notifier = createNotifier({ socket: process.env["NOTIFY_SOCKET"], runtime, log });
  // The control socket: before the "listening" line, so `postino watch` works once the server is up.
  const control = await startControlServer({
    path: join(config.dataDir, CONTROL_SOCKET),
    hub: terminals,
    isUser: (address) => directory.getUser(address) !== undefined,
    verifyPassword: (address, password) => directory.verifyPassword(address, password),
    enabled: () => setup.runner.plugins.some((p) => p.name === "terminal"),
    log,
  });

  // The handlers go in before the "listening" line: a signal sent as soon as
  // we are ready must not meet the default action, which kills the process.
  // One reload at a time, in signal order: a slow reload must not finish
  // after a later one and put the older file back.
  let reloads = Promise.resolve();
  runtime.onSignal("SIGHUP", () => void (reloads = reloads.then(reload)));
  async function reload(): Promise<void> {
    if (stopping) return;
    notifier.reloading("reloading the configuration");
    try {
      const next = await loadConfig(file, flags);
      const nextSetup = await buildSetup(
        next,
        directory,
        delivery,
        log,
        limiter,
        terminals,
        metrics.hookTiming,
      );
      // Live sessions keep the chain they started with; new ones get this one.
      const previous = setup;
      setup = nextSetup;
      server.update(nextSetup);
      chains.retire(previous.runner);
      delivery.update(next);
      log.event("reloaded", {
        config: file ?? "command line",
        plugins: nextSetup.runner.plugins.length,
      });
      const later = needsRestart(config, next);
      if (later.length > 0) {
        log.event("reload_note", { restart_needed: later.join(","), read: "at start only" });
      }
    } catch (error) {
      log.event("reload_failed", { error: (error as Error).message, kept: "previous config" });
    }
    notifier.reloaded(listeningStatus(server.endpoints));
  }

  // Set by the stop below; the admin API's health turns 503 from then on.
  let stopping = false;
  // Assigned once the listeners are up; `let` because the stop handler above may run first.
  // deno-lint-ignore prefer-const
  let admin: AdminHttp | undefined;
  const stopped = new Promise<number>((resolve) => {
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      notifier.stopping(`stopping: ${server.connections} session(s) to finish`);
      log.event("stopping", { signal, sessions: server.connections });
      await server.stop();
      // After the sessions: a SEND still in DATA can reach its terminals.
      await admin?.close();
      await control.close();
      await delivery.stop();
      await chains.closeAll([setup.runner]);
      db.close();
      log.event("stopped", {});
      resolve(0);
    };
    runtime.onSignal("SIGTERM", () => void stop("SIGTERM"));
    runtime.onSignal("SIGINT", () => void stop("SIGINT"));
  });
  await server.start();
  closeUnclaimedSockets(activation, log);
  // After the SMTP listeners: health reports them, and "ready" means mail is accepted.
  admin = await startAdminHttp({
    config,
    current: () => setup.config,
    server,
    spool: delivery.spool,
    wakeScheduler: () => delivery.scheduler.wake(),
    directory,
    events,
    metrics,
    terminals,
    log,
    runtime: runtime.name,
    version,
    commit,
    stopping: () => stopping,
  });
  delivery.scheduler.start();
  notifier.ready(listeningStatus(server.endpoints));
  return await stopped;
}
