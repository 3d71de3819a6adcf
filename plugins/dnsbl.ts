/**
 * `dnsbl`: refuses clients whose address is listed on a DNS blocklist
 * (RFC 5782). On connect it asks every zone at once for the client's
 * reversed address, `2.0.0.192.zen.example` for 192.0.2.2 (IPv6: 32
 * reversed nibbles, §2.4), and a listed client gets
 * `554 5.7.1 Service unavailable; client [IP] blocked using ZONE` instead of
 * the greeting, and the connection closes.
 *
 * **This plugin fails open**, unlike the rest of Postino: a lookup that
 * errs or times out counts as "not listed" and logs a `plugin_warn` line.
 * A blocklist is a third-party opinion fetched over the network on every
 * connection; when it is slow, down, or refuses our resolver (public lists
 * often do), failing closed would turn away all mail, including mail that
 * the remaining checks would accept. Every other MTA treats DNSBLs so.
 * Keep `timeout` below `hook_timeout`: a hook that times out fails closed.
 *
 * Nothing is exempt by default, not even loopback. List your own trusted
 * networks in `allow` (they are never looked up), and use a resolver that
 * the lists accept (`dns_server`), not a public one.
 *
 * ```toml
 * plugins = ["dnsbl"]
 * [plugin.dnsbl]
 * zones = ["zen.spamhaus.org"]
 * dns_server = "127.0.0.1:53"   # optional; default: /etc/resolv.conf
 * allow = ["10.0.0.0/8"]        # optional
 * timeout = 5                   # optional, seconds
 * ```
 *
 * @module
 */
import { isIP } from "node:net";
import { createDnsClient, parseDnsServer } from "../core/delivery/dns_client.ts";
import { reject } from "../core/hooks/decision.ts";
import type { PluginHost } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import { isValidDomain } from "../core/smtp/address.ts";
import { networkMatcher } from "./relay.ts";

/** Options for {@linkcode dnsbl}. */
export interface DnsblOptions {
  /** Blocklist zones, such as `zen.spamhaus.org`. */
  zones: readonly string[];
  /** Resolves the A records of a name; rejects with a `code` (`ENOTFOUND`…) like `node:dns`. */
  lookup(name: string): Promise<string[]>;
  /** Client networks (`address/prefix`) that are never looked up. Default: none. */
  allow?: readonly string[];
  /** How long to wait for every zone, in milliseconds (default 5000). */
  timeoutMs?: number;
}

/** The `[plugin.dnsbl]` table, validated (see {@linkcode dnsblSettings}). */
export interface DnsblSettings {
  zones: string[];
  /** `"HOST:PORT"`; undefined means the system resolver's address. */
  dnsServer: string | undefined;
  allow: string[];
  timeoutMs: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
/** Answers meaning "no such record": the address is not listed. */
const NOT_FOUND = new Set(["ENOTFOUND", "ENODATA"]);

type Listed = { listed: true; zone: string; answer: string };
type Verdict = Listed | { listed: false };

/**
 * Creates the `dnsbl` plugin. Throws a `TypeError` for bad options.
 *
 * @example
 * ```ts
 * const dns = createDnsClient({ server: "127.0.0.1:53" });
 * const plugin = dnsbl({ zones: ["zen.spamhaus.org"], lookup: (name) => dns.resolve4(name) });
 * ```
 */
export function dnsbl(options: DnsblOptions): Plugin {
  const zones = options.zones.map((zone) => zone.replace(/\.$/, "").toLowerCase());
  if (zones.length === 0) throw new TypeError("dnsbl: zones must list at least one zone");
  for (const zone of zones) {
    if (zone.startsWith("[") || !isValidDomain(zone)) {
      throw new TypeError(`dnsbl: "${zone}" is not a DNS zone`);
    }
  }
  const allow = options.allow ?? [];
  for (const network of allow) {
    if (!isNetwork(network)) throw new TypeError(`dnsbl: "${network}" is not a network`);
  }
  const allowed = networkMatcher(allow);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const ask = async (zone: string, name: string, warn: Warn): Promise<Verdict> => {
    let answers: string[];
    try {
      answers = await withTimeout(options.lookup(`${name}.${zone}`), timeoutMs);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string" && NOT_FOUND.has(code)) return { listed: false };
      warn("lookup failed, treating the client as not listed", {
        zone,
        error: error instanceof Error ? error.message : String(error),
      });
      return { listed: false };
    }
    // RFC 5782 §2.1: listings answer in 127.0.0.0/8. Spamhaus answers
    // 127.255.255.0/24 for errors (such as a refused resolver), and anything
    // else is a resolver rewriting NXDOMAIN, not a listing.
    const listing = answers.find((a) => a.startsWith("127.") && !a.startsWith("127.255.255."));
    if (listing !== undefined) return { listed: true, zone, answer: listing };
    if (answers.length > 0) {
      warn("unexpected answer, treating the client as not listed", {
        zone,
        answer: answers.join(","),
      });
    }
    return { listed: false };
  };

  return {
    name: "dnsbl",
    async connect(ctx) {
      const address = unmapped(ctx.connection.remote.address);
      if (allowed(address)) return undefined;
      const name = reverseAddress(address);
      if (name === undefined) return undefined;
      const warn: Warn = (message, fields) => ctx.log.warn(message, { ...fields, client: address });
      const verdicts = await Promise.all(zones.map((zone) => ask(zone, name, warn)));
      // The first listing zone in configured order, so replies are predictable.
      const hit = verdicts.find((v): v is Listed => v.listed);
      if (hit === undefined) return undefined;
      ctx.log.info("listed", { zone: hit.zone, answer: hit.answer, client: address });
      return reject(
        554,
        "5.7.1",
        `Service unavailable; client [${address}] blocked using ${hit.zone}`,
      );
    },
  };
}

type Warn = (message: string, fields: Record<string, string>) => void;

/**
 * The query name for an address under a zone, without the zone
 * (RFC 5782 §2.1, §2.4), or undefined for something that is not an IP.
 *
 * @example
 * ```ts
 * reverseAddress("192.0.2.99"); // "99.2.0.192"
 * reverseAddress("2001:db8::1"); // "1.0.0.0. … .8.b.d.0.1.0.0.2" (32 nibbles)
 * ```
 */
export function reverseAddress(address: string): string | undefined {
  const plain = unmapped(address);
  const family = plain.includes("%") ? 0 : isIP(plain);
  if (family === 4) return plain.split(".").reverse().join(".");
  if (family !== 6) return undefined;
  // The URL parser gives RFC 5952 text alike on Deno and Bun: no dotted tail.
  const canonical = new URL(`http://[${plain}]/`).hostname.slice(1, -1);
  const [head = "", tail] = canonical.split("::");
  const groups = (s: string | undefined) => (s ? s.split(":") : []);
  const left = groups(head);
  const right = groups(tail);
  const zeros = Array(8 - left.length - right.length).fill("0");
  const hex = [...left, ...zeros, ...right].map((g) => g.padStart(4, "0")).join("");
  return [...hex].reverse().join(".");
}

/** `::ffff:192.0.2.1` is an IPv4 client on a dual-stack socket. */
function unmapped(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] as string : address;
}

/** Whether `text` is `address` or `address/prefix` with a prefix the family allows. */
function isNetwork(text: string): boolean {
  const [address = "", prefix, ...rest] = text.split("/");
  const family = address.includes("%") ? 0 : isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(
      () => fail(Object.assign(new Error(`timed out after ${ms} ms`), { code: "ETIMEOUT" })),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The built-in `dnsbl`: {@linkcode dnsblSettings} from the plugin's config
 * table, looked up with Postino's DNS client. Throws for bad options.
 */
export function dnsblFromHost(host: Pick<PluginHost, "options">): Plugin {
  const settings = dnsblSettings(host.options);
  const dns = createDnsClient({
    ...(settings.dnsServer === undefined ? {} : { server: settings.dnsServer }),
    // The client tries twice; both tries fit in the plugin's own timeout.
    timeoutMs: settings.timeoutMs / 2,
  });
  return dnsbl({
    zones: settings.zones,
    allow: settings.allow,
    timeoutMs: settings.timeoutMs,
    lookup: (name) => dns.resolve4(name),
  });
}

/**
 * Validates the `[plugin.dnsbl]` table: `zones` (string[], required),
 * `dns_server` (string), `allow` (string[]) and `timeout` (seconds).
 * Throws an `Error` naming the bad option.
 */
export function dnsblSettings(raw: Readonly<Record<string, unknown>>): DnsblSettings {
  const known = new Set(["zones", "dns_server", "allow", "timeout"]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new Error(`plugin.dnsbl: unknown option "${key}"`);
  }
  const strings = (key: string): string[] | undefined => {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      throw new Error(`plugin.dnsbl: ${key} must be an array of strings`);
    }
    return value;
  };
  const zones = strings("zones");
  if (zones === undefined || zones.length === 0) {
    throw new Error("plugin.dnsbl: zones must list at least one zone");
  }
  const dnsServer = raw.dns_server;
  if (dnsServer !== undefined && typeof dnsServer !== "string") {
    throw new Error('plugin.dnsbl: dns_server must be a string "HOST:PORT"');
  }
  if (dnsServer !== undefined) {
    try {
      parseDnsServer(dnsServer);
    } catch (error) {
      throw new Error(`plugin.dnsbl: ${(error as Error).message}`);
    }
  }
  const timeout = raw.timeout ?? DEFAULT_TIMEOUT_MS / 1000;
  if (typeof timeout !== "number" || !(timeout > 0 && timeout <= 60)) {
    throw new Error("plugin.dnsbl: timeout must be a number of seconds in (0, 60]");
  }
  return { zones, dnsServer, allow: strings("allow") ?? [], timeoutMs: timeout * 1000 };
}
