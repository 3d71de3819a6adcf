/**
 * Where mail for a remote domain goes next: the smart host
 * (`--relay-host`), a transport map entry from the config's `[transport]`
 * table, or the domain's MX hosts (RFC 5321 §5.1).
 *
 * @module
 */
import { isIP } from "node:net";
import { asciiDomain, type MxResult } from "./mx.ts";

/** A host and port to connect to. `host` is an IP address or a host name. */
export interface HostPort {
  host: string;
  port: number;
}

/** One address to try, in order. `name` is the host's name (for logs and TLS SNI). */
export interface Hop {
  host: string;
  port: number;
  name: string;
}

/** The outcome of {@linkcode nextHops}. */
export type NextHops =
  | { kind: "hops"; hops: Hop[] }
  | { kind: "permanent"; code: number; enhanced: string; text: string }
  | { kind: "temporary"; text: string };

/** Options for {@linkcode nextHops}. */
export interface NextHopsOptions {
  /** `--relay-host`: every remote domain goes there. */
  relayHost?: HostPort;
  /** From {@linkcode parseTransportMap}. */
  transports: Map<string, HostPort>;
  resolver: { resolve(domain: string): Promise<MxResult> };
  /** The port for MX hosts (default 25; tests use a high port). */
  defaultPort?: number;
}

/** The SMTP port. */
const SMTP_PORT = 25;

/**
 * Parses `HOST`, `HOST:PORT`, `[ADDRESS]`, `[ADDRESS]:PORT` or
 * `[IPv6:ADDRESS]:PORT`. Returns undefined when malformed. An IPv6 address
 * must be bracketed, since its colons would be read as a port.
 *
 * @example
 * ```ts
 * parseHostPort("[127.0.0.3]:25"); // { host: "127.0.0.3", port: 25 }
 * parseHostPort("mx.example.test"); // { host: "mx.example.test", port: 25 }
 * ```
 */
export function parseHostPort(value: string, defaultPort = SMTP_PORT): HostPort | undefined {
  const match = /^\[(?:ipv6:)?([^\]]+)\](?::(\d{1,5}))?$/i.exec(value) ??
    /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(value);
  if (!match) return undefined;
  const bracketed = value.startsWith("[");
  const raw = match[1] as string;
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  if (bracketed) return isIP(raw) === 0 ? undefined : { host: raw, port };
  if (isIP(raw) === 4) return { host: raw, port };
  const host = asciiDomain(raw);
  return host === undefined ? undefined : { host, port };
}

/**
 * Parses the config's `[transport]` table: domain → `"host:port"`.
 *
 * As in Postfix's transport(5), a key `example.test` matches that domain
 * only, and a key `.example.test` matches every subdomain of it. Keys are
 * lower-cased and IDN keys turned into punycode.
 *
 * @example
 * ```ts
 * parseTransportMap({ "example.test": "127.0.0.2:2525", ".example.test": "[127.0.0.3]:25" });
 * ```
 * @throws {TypeError} naming the key, for a bad key, a bad value or a duplicate.
 */
export function parseTransportMap(table: Record<string, string>): Map<string, HostPort> {
  const map = new Map<string, HostPort>();
  for (const [key, value] of Object.entries(table)) {
    const subdomains = key.startsWith(".");
    const name = asciiDomain(subdomains ? key.slice(1) : key);
    if (name === undefined) throw new TypeError(`transport: invalid domain "${key}"`);
    const normalized = subdomains ? `.${name}` : name;
    if (map.has(normalized)) throw new TypeError(`transport: duplicate domain "${key}"`);
    const target = typeof value === "string" ? parseHostPort(value.trim()) : undefined;
    if (target === undefined) {
      throw new TypeError(
        `transport: "${key}" must be "host", "host:port" or "[address]:port", not ${
          JSON.stringify(value)
        }`,
      );
    }
    map.set(normalized, target);
  }
  return map;
}

/**
 * The hops to try for `domain`, in order: the relay host wins over
 * everything, then a transport entry (exact domain, then `.parent` keys from
 * the nearest up), then the MX hosts with each of their addresses.
 *
 * @example
 * ```ts
 * const route = await nextHops("example.test", { transports: new Map(), resolver });
 * if (route.kind === "hops") for (const hop of route.hops) { … }
 * ```
 */
export async function nextHops(domain: string, options: NextHopsOptions): Promise<NextHops> {
  if (options.relayHost) return { kind: "hops", hops: [direct(options.relayHost)] };
  const transport = findTransport(domain, options.transports);
  if (transport) return { kind: "hops", hops: [direct(transport)] };

  const result = await options.resolver.resolve(domain);
  switch (result.kind) {
    case "hosts": {
      const port = options.defaultPort ?? SMTP_PORT;
      const hops = result.hosts.flatMap((host) =>
        host.addresses.map((address) => ({ host: address, port, name: host.name }))
      );
      return { kind: "hops", hops };
    }
    case "nullmx":
      // RFC 7505 §4.1.
      return {
        kind: "permanent",
        code: 556,
        enhanced: "5.1.10",
        text: "Recipient address has null MX",
      };
    case "nodomain":
      // RFC 3463 §3.2: X.1.2 "Bad destination system address".
      return {
        kind: "permanent",
        code: 550,
        enhanced: "5.1.2",
        text: "Bad destination system address",
      };
    case "temperror":
      return { kind: "temporary", text: `DNS lookup for ${domain} failed: ${result.reason}` };
  }
}

function direct(target: HostPort): Hop {
  return { host: target.host, port: target.port, name: target.host };
}

function findTransport(domain: string, transports: Map<string, HostPort>): HostPort | undefined {
  if (transports.size === 0) return undefined;
  const name = asciiDomain(domain.trim().replace(/\.$/, ""));
  if (name === undefined) return undefined;
  const exact = transports.get(name);
  if (exact) return exact;
  const labels = name.split(".");
  for (let i = 1; i < labels.length; i++) {
    const parent = transports.get(`.${labels.slice(i).join(".")}`);
    if (parent) return parent;
  }
  return undefined;
}
