/**
 * Reads the TOML config file and merges the command-line flags over it.
 * The result goes to `validateConfig`, which refuses it whole or not at all.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { parse } from "smol-toml";
import { ConfigError, type RawConfig } from "../core/config.ts";

/** Parses a TOML config file into raw settings. */
export async function readConfigFile(path: string): Promise<RawConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError(path, "file", (error as Error).message);
  }
  try {
    return normalizeNumbers(parse(text)) as RawConfig;
  } catch (error) {
    throw new ConfigError(
      path,
      "syntax",
      (error as Error).message.split("\n")[0] ?? "invalid TOML",
    );
  }
}

// smol-toml gives bigints only for huge integers; keep plain numbers where safe.
function normalizeNumbers(value: unknown): unknown {
  if (typeof value === "bigint") {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  if (Array.isArray(value)) return value.map(normalizeNumbers);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalizeNumbers(v)]));
  }
  return value;
}

/** The `serve` flags as parsed by `parseArgs`. */
export interface ServeFlags {
  listen?: string[];
  hostname?: string;
  domain?: string[];
  "data-dir"?: string;
  "max-message-size"?: string;
  plugin?: string[];
  verbose?: boolean;
  "log-format"?: string;
  "relay-network"?: string[];
  submission?: string[];
  "tls-listen"?: string[];
  "tls-cert"?: string;
  "tls-key"?: string;
  "relay-host"?: string;
  "dns-server"?: string;
  odmr?: string[];
  "hold-domain"?: string[];
  http?: string;
  "http-open-loopback"?: boolean;
}

/** Lays flags over the file's settings; flags win. */
export function mergeFlags(file: RawConfig, flags: ServeFlags): RawConfig {
  const merged: RawConfig = { ...file };
  if (flags.listen) merged.listen = flags.listen;
  if (flags.hostname !== undefined) merged.hostname = flags.hostname;
  if (flags.domain) merged.domains = flags.domain;
  if (flags["data-dir"] !== undefined) merged.data_dir = flags["data-dir"];
  if (flags["max-message-size"] !== undefined) {
    const size = Number(flags["max-message-size"]);
    if (!Number.isSafeInteger(size)) {
      throw new ConfigError(
        "command line",
        "--max-message-size",
        "must be a whole number of octets",
      );
    }
    merged.max_message_size = size;
  }
  if (flags.plugin) merged.plugins = flags.plugin;
  if (flags.verbose) merged.verbose = true;
  if (flags["log-format"] !== undefined) merged.log_format = flags["log-format"];
  if (flags["relay-network"]) merged.relay_networks = flags["relay-network"];
  if (flags.submission) merged.submission = flags.submission;
  if (flags["tls-listen"]) merged.tls_listen = flags["tls-listen"];
  if (flags["tls-cert"] !== undefined) merged.tls_cert = flags["tls-cert"];
  if (flags["tls-key"] !== undefined) merged.tls_key = flags["tls-key"];
  if (flags["relay-host"] !== undefined) merged.relay_host = flags["relay-host"];
  if (flags["dns-server"] !== undefined) merged.dns_server = flags["dns-server"];
  if (flags.odmr) merged.odmr = flags.odmr;
  if (flags["hold-domain"]) merged.hold_domains = flags["hold-domain"];
  if (flags.http !== undefined) merged.http = flags.http;
  if (flags["http-open-loopback"]) merged.http_open_loopback = true;
  return merged;
}
