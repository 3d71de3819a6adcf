/**
 * Postino's configuration as plain validated data (STYLE.md rule 12). The
 * TOML file and the command line both become a {@linkcode RawConfig}, which
 * {@linkcode validateConfig} turns into a {@linkcode Config} or refuses
 * whole, naming the key and the reason. Nothing is half-applied.
 *
 * @module
 */
import { hostname as osHostname } from "node:os";
import { isValidDomain } from "./smtp/address.ts";
import type { BareLfPolicy } from "./smtp/data_reader.ts";
import { parseHostPort } from "./runtime/conn.ts";

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
  dataDir: string;
  maxMessageSize: number;
  maxRecipients: number;
  maxErrors: number;
  idleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  hookTimeoutMs: number;
  shutdownGraceMs: number;
  bareLf: BareLfPolicy;
  /** Plugins that run before the built-in acceptors, in order. */
  plugins: PluginSpec[];
  verbose: boolean;
}

/** The defaults when nothing is configured. */
export const DEFAULTS: Readonly<Omit<Config, "hostname">> = {
  domains: ["localhost"],
  listen: [{ hostname: "127.0.0.1", port: 2525 }],
  dataDir: "./data",
  maxMessageSize: 10 * 1024 * 1024,
  // RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted.
  maxRecipients: 100,
  maxErrors: 20,
  // RFC 5321 §4.5.3.2.7: at least five minutes.
  idleTimeoutMs: 300_000,
  maxConnections: 200,
  maxConnectionsPerIp: 50,
  hookTimeoutMs: 30_000,
  shutdownGraceMs: 10_000,
  bareLf: "reject",
  plugins: [],
  verbose: false,
};

/** A config problem: where it is and what is wrong. */
export class ConfigError extends Error {
  constructor(source: string, key: string, reason: string) {
    super(`${source}: ${key}: ${reason}`);
    this.name = "ConfigError";
  }
}

/** Unvalidated settings, keyed as in the TOML file. */
export type RawConfig = Record<string, unknown>;

const KEYS: Record<string, string> = {
  hostname: "string",
  domains: "string[]",
  listen: "string[]",
  data_dir: "string",
  max_message_size: "integer",
  max_recipients: "integer",
  max_errors: "integer",
  idle_timeout: "integer",
  max_connections: "integer",
  max_connections_per_ip: "integer",
  hook_timeout: "integer",
  shutdown_grace: "integer",
  bare_lf: "string",
  plugins: "string[]",
  plugin: "table",
  verbose: "boolean",
};

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return value.every((v) => typeof v === "string") ? "string[]" : "array";
  if (typeof value === "number") return Number.isSafeInteger(value) ? "integer" : "number";
  if (typeof value === "bigint") return "integer";
  if (typeof value === "object" && value !== null) return "table";
  return typeof value;
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
  if (listen.length === 0) throw new ConfigError(source, "listen", "needs at least one address");
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
  const seconds = (key: string, fallbackMs: number) =>
    raw[key] === undefined ? fallbackMs : positive(source, key, raw[key], 0) * 1000;
  return {
    hostname,
    domains: [...new Set(domains)],
    listen,
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
    verbose: (raw.verbose as boolean | undefined) ?? false,
  };
}
