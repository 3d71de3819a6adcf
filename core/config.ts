/**
 * Postino's configuration as plain validated data (STYLE.md rule 12). The
 * TOML file and the command line both become a {@linkcode RawConfig}, which
 * {@linkcode validateConfig} turns into a {@linkcode Config} or refuses
 * whole, naming the key and the reason. Nothing is half-applied.
 *
 * @module
 */
import { isIP } from "node:net";
import { hostname as osHostname } from "node:os";
import { isValidDomain } from "./smtp/address.ts";
import type { BareLfPolicy } from "./smtp/data_reader.ts";
import { parseHostPort } from "./runtime/conn.ts";
import { ConfigError, type RawConfig } from "./config_error.ts";
import { listenersFrom, type ListenerSpec } from "./config_listeners.ts";

export { ConfigError } from "./config_error.ts";
export type { RawConfig } from "./config_error.ts";
export type { ListenerSpec } from "./config_listeners.ts";
import { parseTlsPolicies, type TlsPolicy } from "./delivery/tls_policy.ts";
import { LOG_FORMATS, type LogFormat } from "./log.ts";

/** A plugin to load: a built-in name or a file path, and its options. */
export interface PluginSpec {
  name: string;
  options: Record<string, unknown>;
}

/** The validated configuration. */
export interface Config {
  hostname: string;
  /** Local domains, lower-cased; the first is the primary one. */
  domains: string[];
  listen: { hostname: string; port: number }[];
  /** Every listener: `listen` (port 25 style), `submission`, `tls_listen` and `odmr`. */
  listeners: ListenerSpec[];
  /** Certificate and key files for STARTTLS and implicit TLS. */
  tls: { cert: string; key: string } | undefined;
  /** Authenticated senders may only use their own addresses and aliases (553 5.7.1). */
  senderLoginCheck: boolean;
  dataDir: string;
  maxMessageSize: number;
  maxRecipients: number;
  maxErrors: number;
  idleTimeoutMs: number;
  /** Pause before the greeting to catch early talkers (0: greet at once). */
  greetPauseMs: number;
  /** One command line must arrive within this, from its first byte. */
  commandTimeoutMs: number;
  /** A whole DATA body, or all BDAT chunks of a message, must arrive within this. */
  dataTimeoutMs: number;
  /** A client that does not take our replies within this is cut off. */
  writeTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  hookTimeoutMs: number;
  shutdownGraceMs: number;
  bareLf: BareLfPolicy;
  /** Plugins that run before the built-in acceptors, in order. */
  plugins: PluginSpec[];
  /**
   * Every `[plugin.NAME]` table, also for built-ins that run without being
   * listed in `plugins` (e.g. `rate_limit`), keyed by name.
   */
  pluginOptions: Record<string, Record<string, unknown>>;
  verbose: boolean;
  /** How log lines look: `text` (key=value) or `json` (`log_format`). */
  logFormat: LogFormat;
  /** Client networks (CIDR) allowed to relay to any domain. */
  relayNetworks: string[];
  /** A smart host for all non-local mail, instead of MX lookups. */
  relayHost: { hostname: string; port: number } | undefined;
  /** Per-domain next hops (`[transport]` table), overriding MX. */
  transport: Record<string, { hostname: string; port: number }>;
  /** Outbound STARTTLS when no `[tls_policy]` entry matches (`outbound_tls`). */
  outboundTls: TlsPolicy;
  /** Per-domain outbound TLS policies (`[tls_policy]`), keyed as in `[transport]`. */
  tlsPolicy: Record<string, TlsPolicy>;
  /** PEM trust anchors for `verify` instead of the system store (`tls_ca_file`). */
  tlsCaFile: string | undefined;
  /**
   * Outbound SMTP timeouts (RFC 5321 §4.5.3.2) in ms, from `[client_timeouts]`
   * in seconds: connect, greeting, ehlo, mail, rcpt, data_init, data_block, data_end.
   */
  clientTimeouts: Partial<Record<ClientTimeoutName, number>>;
  /** The DNS server for MX lookups (`HOST:PORT`); the system's when unset. */
  dnsServer: string | undefined;
  /** Port used for MX hosts (25; tests point it elsewhere). */
  smtpPort: number;
  /** Messages the spool may hold before MAIL gets 452 4.3.1. */
  maxQueued: number;
  /** Messages delivered at the same time. */
  deliveryConcurrency: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** How long a message may wait in the queue before it bounces. */
  maxQueueLifetimeMs: number;
  /** Warn the sender once when a message is still queued after this long (0: off). */
  delayWarningMs: number;
  /**
   * Domains we are the MX for but hold mail for collection with ATRN (RFC
   * 2645) instead of sending it on; lower-cased. Needs the `turn` plugin.
   */
  holdDomains: string[];
  /** The admin HTTP API and web UI (`http = "HOST:PORT"` or `"off"`). */
  http: { hostname: string; port: number } | undefined;
  /**
   * Development only: a loopback `http` bind needs no admin token
   * (`http_open_loopback`). Ignored for any other bind address.
   */
  httpOpenLoopback: boolean;
}

/** The defaults when nothing is configured. */
export const DEFAULTS: Readonly<Omit<Config, "hostname">> = {
  domains: ["localhost"],
  listen: [{ hostname: "127.0.0.1", port: 2525 }],
  listeners: [{
    hostname: "127.0.0.1",
    port: 2525,
    kind: "smtp",
    implicitTls: false,
    proxy: false,
  }],
  tls: undefined,
  senderLoginCheck: true,
  dataDir: "./data",
  maxMessageSize: 10 * 1024 * 1024,
  // RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted.
  maxRecipients: 100,
  maxErrors: 20,
  // RFC 5321 §4.5.3.2.7: at least five minutes.
  idleTimeoutMs: 300_000,
  // Postscreen's pregreet test needs a pause; off by default so port 587
  // clients and tests are not slowed down. Port 25 admins may set 3-6 s.
  greetPauseMs: 0,
  // RFC 5321 §4.5.3.2.7 and .5: five minutes per command, ten for the body.
  commandTimeoutMs: 300_000,
  dataTimeoutMs: 600_000,
  writeTimeoutMs: 60_000,
  maxConnections: 200,
  maxConnectionsPerIp: 50,
  hookTimeoutMs: 30_000,
  shutdownGraceMs: 10_000,
  bareLf: "reject",
  plugins: [],
  pluginOptions: {},
  verbose: false,
  logFormat: "text",
  relayNetworks: [],
  relayHost: undefined,
  transport: {},
  outboundTls: "opportunistic",
  tlsPolicy: {},
  tlsCaFile: undefined,
  clientTimeouts: {},
  dnsServer: undefined,
  smtpPort: 25,
  maxQueued: 100_000,
  deliveryConcurrency: 20,
  retryInitialMs: 5 * 60_000,
  retryMaxMs: 60 * 60_000,
  maxQueueLifetimeMs: 5 * 24 * 60 * 60_000,
  delayWarningMs: 0,
  holdDomains: [],
  http: { hostname: "127.0.0.1", port: 8025 },
  httpOpenLoopback: false,
};

const KEYS: Record<string, string> = {
  hostname: "string",
  domains: "string[]",
  listen: "string[]",
  submission: "string[]",
  tls_listen: "string[]",
  odmr: "string[]",
  proxy_listen: "string[]",
  tls_cert: "string",
  tls_key: "string",
  tls: "table",
  sender_login_check: "boolean",
  data_dir: "string",
  max_message_size: "integer",
  max_recipients: "integer",
  max_errors: "integer",
  idle_timeout: "integer",
  greet_pause: "integer",
  command_timeout: "integer",
  data_timeout: "integer",
  write_timeout: "integer",
  max_connections: "integer",
  max_connections_per_ip: "integer",
  hook_timeout: "integer",
  shutdown_grace: "integer",
  bare_lf: "string",
  plugins: "string[]",
  plugin: "table",
  verbose: "boolean",
  log_format: "string",
  relay_networks: "string[]",
  relay_host: "string",
  transport: "table",
  outbound_tls: "string",
  tls_policy: "table",
  tls_ca_file: "string",
  client_timeouts: "table",
  dns_server: "string",
  smtp_port: "integer",
  max_queued: "integer",
  delivery_concurrency: "integer",
  retry_initial: "integer",
  retry_max: "integer",
  max_queue_lifetime: "integer",
  delay_warning: "integer",
  hold_domains: "string[]",
  http: "string",
  http_open_loopback: "boolean",
};

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return value.every((v) => typeof v === "string") ? "string[]" : "array";
  if (typeof value === "number") return Number.isSafeInteger(value) ? "integer" : "number";
  if (typeof value === "bigint") return "integer";
  if (typeof value === "object" && value !== null) return "table";
  return typeof value;
}

function nonNegative(source: string, key: string, value: unknown): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ConfigError(source, key, "must be 0 or a positive integer");
  }
  return n;
}

function positive(source: string, key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new ConfigError(source, key, "must be a positive integer");
  }
  return n;
}

/**
 * Validates raw settings. `source` names the file (or "command line") in
 * errors. Durations are in seconds in the file and milliseconds here.
 */
export function validateConfig(raw: RawConfig, source: string): Config {
  for (const [key, value] of Object.entries(raw)) {
    const want = KEYS[key];
    if (!want) throw new ConfigError(source, key, "unknown setting");
    if (typeOf(value) !== want) {
      throw new ConfigError(source, key, `must be ${want}, got ${typeOf(value)}`);
    }
  }
  const hostname = (raw.hostname as string | undefined) ?? osHostname();
  if (!isValidDomain(hostname)) {
    throw new ConfigError(source, "hostname", `"${hostname}" is not a host name`);
  }
  const domains = ((raw.domains as string[] | undefined) ?? DEFAULTS.domains).map((d) =>
    d.toLowerCase()
  );
  if (domains.length === 0) throw new ConfigError(source, "domains", "needs at least one domain");
  for (const domain of domains) {
    if (!isValidDomain(domain)) {
      throw new ConfigError(source, "domains", `"${domain}" is not a domain`);
    }
  }
  const listen = raw.listen === undefined
    ? DEFAULTS.listen
    : (raw.listen as string[]).map((text) => {
      try {
        return parseHostPort(text);
      } catch (error) {
        throw new ConfigError(source, "listen", (error as Error).message);
      }
    });
  const { listeners, tls } = listenersFrom(raw, source, listen);
  const bareLf = (raw.bare_lf as string | undefined) ?? DEFAULTS.bareLf;
  if (bareLf !== "reject" && bareLf !== "normalize") {
    throw new ConfigError(source, "bare_lf", 'must be "reject" or "normalize"');
  }
  const tables = (raw.plugin as Record<string, unknown> | undefined) ?? {};
  for (const [name, options] of Object.entries(tables)) {
    if (typeOf(options) !== "table") {
      throw new ConfigError(source, `plugin.${name}`, "must be a table");
    }
  }
  // A file plugin's options may be keyed by its file name without extension.
  const stem = (name: string) => name.replace(/^.*[/\\]/, "").replace(/\.(ts|js|mjs)$/, "");
  const plugins = ((raw.plugins as string[] | undefined) ?? []).map((name) => ({
    name,
    options: (tables[name] ?? tables[stem(name)] ?? {}) as Record<string, unknown>,
  }));
  const hostPort = (key: string, text: string) => {
    try {
      return parseHostPort(text);
    } catch (error) {
      throw new ConfigError(source, key, (error as Error).message);
    }
  };
  const relayNetworks = (raw.relay_networks as string[] | undefined) ?? [];
  for (const cidr of relayNetworks) {
    if (!isCidr(cidr)) {
      throw new ConfigError(source, "relay_networks", `"${cidr}" is not an address/prefix`);
    }
  }
  const transport: Config["transport"] = {};
  for (
    const [domain, hop] of Object.entries(
      (raw.transport as Record<string, unknown> | undefined) ?? {},
    )
  ) {
    if (typeof hop !== "string") {
      throw new ConfigError(source, `transport.${domain}`, "must be HOST:PORT");
    }
    transport[domain.toLowerCase()] = hostPort(`transport.${domain}`, hop);
  }
  if (raw.dns_server !== undefined) hostPort("dns_server", raw.dns_server as string);
  const outboundTls = (raw.outbound_tls as string | undefined) ?? DEFAULTS.outboundTls;
  const tlsPolicyTable = (raw.tls_policy as Record<string, unknown> | undefined) ?? {};
  let tlsPolicies;
  try {
    tlsPolicies = parseTlsPolicies(tlsPolicyTable, outboundTls as TlsPolicy);
  } catch (error) {
    const [key, ...reason] = (error as Error).message.split(": ");
    throw new ConfigError(source, key ?? "tls_policy", reason.join(": "));
  }
  const holdDomains = ((raw.hold_domains as string[] | undefined) ?? []).map((d) =>
    d.toLowerCase()
  );
  for (const domain of holdDomains) {
    if (!isValidDomain(domain) || domain.startsWith("[")) {
      throw new ConfigError(source, "hold_domains", `"${domain}" is not a domain`);
    }
    if (domains.includes(domain)) {
      throw new ConfigError(source, "hold_domains", `"${domain}" is a local domain`);
    }
  }
  // Held mail is only ever collected with ATRN: without the plugin it would rot.
  if (holdDomains.length > 0 && !plugins.some((p) => p.name === "turn")) {
    throw new ConfigError(source, "hold_domains", 'needs the turn plugin (plugins = ["turn"])');
  }
  const logFormat = (raw.log_format as string | undefined) ?? DEFAULTS.logFormat;
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    throw new ConfigError(source, "log_format", 'must be "text" or "json"');
  }
  const seconds = (key: string, fallbackMs: number) =>
    raw[key] === undefined ? fallbackMs : positive(source, key, raw[key], 0) * 1000;
  return {
    hostname,
    domains: [...new Set(domains)],
    listen,
    listeners,
    tls,
    senderLoginCheck: (raw.sender_login_check as boolean | undefined) ?? true,
    dataDir: (raw.data_dir as string | undefined) ?? DEFAULTS.dataDir,
    maxMessageSize: positive(
      source,
      "max_message_size",
      raw.max_message_size,
      DEFAULTS.maxMessageSize,
    ),
    maxRecipients: positive(source, "max_recipients", raw.max_recipients, DEFAULTS.maxRecipients),
    maxErrors: positive(source, "max_errors", raw.max_errors, DEFAULTS.maxErrors),
    idleTimeoutMs: seconds("idle_timeout", DEFAULTS.idleTimeoutMs),
    // 0 turns the early-talker pause off (the default).
    greetPauseMs: raw.greet_pause === undefined
      ? DEFAULTS.greetPauseMs
      : nonNegative(source, "greet_pause", raw.greet_pause) * 1000,
    commandTimeoutMs: seconds("command_timeout", DEFAULTS.commandTimeoutMs),
    dataTimeoutMs: seconds("data_timeout", DEFAULTS.dataTimeoutMs),
    writeTimeoutMs: seconds("write_timeout", DEFAULTS.writeTimeoutMs),
    maxConnections: positive(
      source,
      "max_connections",
      raw.max_connections,
      DEFAULTS.maxConnections,
    ),
    maxConnectionsPerIp: positive(
      source,
      "max_connections_per_ip",
      raw.max_connections_per_ip,
      DEFAULTS.maxConnectionsPerIp,
    ),
    hookTimeoutMs: seconds("hook_timeout", DEFAULTS.hookTimeoutMs),
    shutdownGraceMs: seconds("shutdown_grace", DEFAULTS.shutdownGraceMs),
    bareLf,
    plugins,
    pluginOptions: tables as Record<string, Record<string, unknown>>,
    verbose: (raw.verbose as boolean | undefined) ?? false,
    logFormat: logFormat as LogFormat,
    relayNetworks,
    relayHost: raw.relay_host === undefined
      ? undefined
      : hostPort("relay_host", raw.relay_host as string),
    transport,
    outboundTls: tlsPolicies.fallback,
    tlsPolicy: Object.fromEntries(tlsPolicies.entries),
    tlsCaFile: raw.tls_ca_file as string | undefined,
    clientTimeouts: clientTimeouts(source, raw.client_timeouts),
    dnsServer: raw.dns_server as string | undefined,
    smtpPort: positive(source, "smtp_port", raw.smtp_port, DEFAULTS.smtpPort),
    maxQueued: positive(source, "max_queued", raw.max_queued, DEFAULTS.maxQueued),
    deliveryConcurrency: positive(
      source,
      "delivery_concurrency",
      raw.delivery_concurrency,
      DEFAULTS.deliveryConcurrency,
    ),
    retryInitialMs: seconds("retry_initial", DEFAULTS.retryInitialMs),
    retryMaxMs: seconds("retry_max", DEFAULTS.retryMaxMs),
    maxQueueLifetimeMs: seconds("max_queue_lifetime", DEFAULTS.maxQueueLifetimeMs),
    // 0 turns delay warnings off (the default), so it is not a positive-only setting.
    delayWarningMs: raw.delay_warning === undefined
      ? 0
      : nonNegative(source, "delay_warning", raw.delay_warning) * 1000,
    holdDomains: [...new Set(holdDomains)],
    http: raw.http === undefined
      ? DEFAULTS.http
      : raw.http === "off"
      ? undefined
      : hostPort("http", raw.http as string),
    httpOpenLoopback: (raw.http_open_loopback as boolean | undefined) ?? false,
  };
}

/** The outbound timeouts one can set, by their config names. */
const CLIENT_TIMEOUTS = {
  connect: "connect",
  greeting: "greeting",
  ehlo: "ehlo",
  mail: "mail",
  rcpt: "rcpt",
  data_init: "dataInit",
  data_block: "dataBlock",
  data_end: "dataEnd",
} as const;

/** A key of the SMTP client's timeouts. */
export type ClientTimeoutName = typeof CLIENT_TIMEOUTS[keyof typeof CLIENT_TIMEOUTS];

function clientTimeouts(source: string, raw: unknown): Config["clientTimeouts"] {
  const result: Config["clientTimeouts"] = {};
  for (const [key, value] of Object.entries((raw as Record<string, unknown> | undefined) ?? {})) {
    const name = Object.hasOwn(CLIENT_TIMEOUTS, key)
      ? CLIENT_TIMEOUTS[key as keyof typeof CLIENT_TIMEOUTS]
      : undefined;
    if (!name) throw new ConfigError(source, `client_timeouts.${key}`, "unknown timeout");
    result[name] = positive(source, `client_timeouts.${key}`, value, 1) * 1000;
  }
  return result;
}

/** Whether `text` is `address/prefix` (IPv4 or IPv6), or a bare address. */
export function isCidr(text: string): boolean {
  const [address, prefix, extra] = text.split("/");
  if (extra !== undefined || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
}
