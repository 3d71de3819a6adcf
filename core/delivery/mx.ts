/**
 * Finds the hosts that take mail for a domain, as RFC 5321 §5.1 says: MX
 * records ordered by preference, the implicit MX (the domain's own A/AAAA)
 * only when there is no MX at all, and the null MX of RFC 7505.
 *
 * Lookups go through the stub resolver of `dns_client.ts`, not `node:dns`:
 * Deno's `node:dns` reports SERVFAIL and REFUSED as `ENOTFOUND`, exactly like
 * NXDOMAIN, so a failing resolver would look like a missing domain and mail
 * would bounce. The {@linkcode DnsLookup} seam (`dns` option) lets tests put
 * in a scripted lookup.
 *
 * @module
 */
import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import { createDnsClient } from "./dns_client.ts";

/** One host that takes mail for a domain. */
export interface MxHost {
  /** The MX exchange (or the domain itself for the implicit MX), lower case, no trailing dot. */
  name: string;
  preference: number;
  /** IPv4 literals first, then IPv6. Never empty. */
  addresses: string[];
}

/** What {@linkcode createMxResolver}'s `resolve()` found. */
export type MxResult =
  /** Ordered by preference; equal preferences shuffled. `implicit`: the A/AAAA fallback was used. */
  | { kind: "hosts"; hosts: MxHost[]; implicit: boolean }
  /** RFC 7505 null MX: the domain takes no mail; fail permanently (556 5.1.10). */
  | { kind: "nullmx" }
  /** No MX and no A/AAAA, or a name that cannot exist: fail permanently (5.1.2). */
  | { kind: "nodomain" }
  /** The answer is not known now (SERVFAIL, timeout, refused, …): try later. */
  | { kind: "temperror"; reason: string };

/** The three queries this module makes (`createDnsClient()` and `node:dns` `Resolver` fit). */
export interface DnsLookup {
  resolveMx(name: string): Promise<{ exchange: string; priority: number }[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

/** Options for {@linkcode createMxResolver}. */
export interface MxResolverOptions {
  /** `"HOST:PORT"`, `"HOST"` or `"[IPV6]:PORT"` (`--dns-server`); default: from /etc/resolv.conf. */
  server?: string;
  /** Per-query timeout in milliseconds (default 5000; each query is tried twice). */
  timeoutMs?: number;
  /** Random source in [0, 1) for shuffling equal preferences (default `Math.random`). */
  random?: () => number;
  /** Replaces the DNS client (then `server` and `timeoutMs` are unused). */
  dns?: DnsLookup;
}

/** At most this many MX hosts are returned; the rest are never tried. */
export const MAX_MX_HOSTS = 10;

/**
 * Creates a resolver for mail routes.
 *
 * @example
 * ```ts
 * const mx = createMxResolver({ server: "127.0.0.1:5353" });
 * const result = await mx.resolve("example.test");
 * if (result.kind === "hosts") console.log(result.hosts[0]?.addresses);
 * ```
 */
export function createMxResolver(
  options: MxResolverOptions = {},
): { resolve(domain: string): Promise<MxResult> } {
  const dns = options.dns ?? systemLookup(options);
  const random = options.random ?? Math.random;
  return { resolve: (domain) => resolveMx(dns, random, domain) };
}

function systemLookup(options: MxResolverOptions): DnsLookup {
  return createDnsClient({
    ...(options.server === undefined ? {} : { server: options.server }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
}

type Target = { literal: string } | { name: string };

/**
 * Normalizes a recipient domain: an address literal (RFC 5321 §4.1.3), or a
 * host name in lower-case ASCII (IDN → punycode) without the trailing dot.
 * Returns undefined for a name that cannot exist in the DNS.
 */
function target(domain: string): Target | undefined {
  const text = domain.trim();
  const literal = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(text);
  if (literal) {
    const address = literal[1] as string;
    return isIP(address) === 0 ? undefined : { literal: address };
  }
  const name = asciiDomain(text.replace(/\.$/, ""));
  return name === undefined ? undefined : { name };
}

/**
 * A domain in lower-case ASCII (IDN → punycode, via `node:url`), or
 * undefined when it is not a valid host name (RFC 1123 §2.1 labels).
 *
 * @example
 * ```ts
 * asciiDomain("Bücher.Example"); // "xn--bcher-kva.example"
 * ```
 */
export function asciiDomain(text: string): string | undefined {
  const name = domainToASCII(text.toLowerCase());
  if (name === "" || name.length > 253) return undefined;
  const labels = name.split(".");
  // An all-numeric last label is a mistyped address (127.0.0.300), not a name.
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return undefined;
  const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
  return labels.every((part) => label.test(part)) ? name : undefined;
}

type Outcome<T> = { kind: "ok"; value: T } | { kind: "missing" } | {
  kind: "error";
  reason: string;
};

/** Runs one query; NXDOMAIN (ENOTFOUND) and NODATA (ENODATA) are "missing". */
async function query<T>(what: string, run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { kind: "ok", value: await run() };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOTFOUND" || code === "ENODATA") return { kind: "missing" };
    return { kind: "error", reason: `${what}: ${typeof code === "string" ? code : String(error)}` };
  }
}

async function resolveMx(dns: DnsLookup, random: () => number, domain: string): Promise<MxResult> {
  const found = target(domain);
  if (found === undefined) return { kind: "nodomain" };
  if ("literal" in found) {
    // An address literal names the host itself: no DNS at all.
    const host = { name: found.literal, preference: 0, addresses: [found.literal] };
    return { kind: "hosts", hosts: [host], implicit: false };
  }
  const name = found.name;
  const mx = await query(`MX ${name}`, () => dns.resolveMx(name));
  if (mx.kind === "error") return { kind: "temperror", reason: mx.reason };
  const records = mx.kind === "ok" ? mx.value : [];
  // RFC 5321 §5.1: the implicit MX applies only when there is no MX record at all.
  if (records.length === 0) return implicitMx(dns, name);

  const exchanges = records.map((r) => ({
    name: exchangeName(r.exchange),
    preference: r.priority,
  }));
  const real = exchanges.filter((r) => r.name !== "");
  // RFC 7505 §3: a null MX is the domain's only MX. If a broken zone mixes it
  // with real MX records, the real ones are used.
  if (real.length === 0) return { kind: "nullmx" };

  const ordered = orderByPreference(real, random).slice(0, MAX_MX_HOSTS);
  const lookups = await Promise.all(ordered.map((mxHost) => addresses(dns, mxHost.name)));
  const hosts: MxHost[] = [];
  let failure: string | undefined;
  ordered.forEach((mxHost, i) => {
    const result = lookups[i] as Outcome<string[]>;
    if (result.kind === "ok") hosts.push({ ...mxHost, addresses: result.value });
    else if (result.kind === "error") failure ??= result.reason;
  });
  if (hosts.length > 0) return { kind: "hosts", hosts, implicit: false };
  // MX records exist but none is usable. RFC 5321 §5.1 asks for an error
  // without saying which kind. We defer rather than bounce: a missing address
  // is most often a zone being edited or a lagging secondary, and the queue's
  // expiry still bounces the message if it never gets fixed.
  return {
    kind: "temperror",
    reason: failure ??
      `no MX host of ${name} has an address (${ordered.map((h) => h.name).join(", ")})`,
  };
}

/** The implicit MX (RFC 5321 §5.1): the domain's own addresses, preference 0. */
async function implicitMx(dns: DnsLookup, name: string): Promise<MxResult> {
  const result = await addresses(dns, name);
  if (result.kind === "error") return { kind: "temperror", reason: result.reason };
  if (result.kind === "missing") return { kind: "nodomain" };
  return {
    kind: "hosts",
    hosts: [{ name, preference: 0, addresses: result.value }],
    implicit: true,
  };
}

/**
 * The A and AAAA addresses of a host, IPv4 first. A family that fails is
 * ignored when the other one gives addresses; with none, a failure wins over
 * "missing" so that a flaky resolver never turns into a bounce.
 */
async function addresses(dns: DnsLookup, name: string): Promise<Outcome<string[]>> {
  const [v4, v6] = await Promise.all([
    query(`A ${name}`, () => dns.resolve4(name)),
    query(`AAAA ${name}`, () => dns.resolve6(name)),
  ]);
  const list = [
    ...new Set([...(v4.kind === "ok" ? v4.value : []), ...(v6.kind === "ok" ? v6.value : [])]),
  ]
    .filter((address) => isIP(address) !== 0);
  if (list.length > 0) return { kind: "ok", value: list };
  if (v4.kind === "error") return v4;
  if (v6.kind === "error") return v6;
  return { kind: "missing" };
}

/** Lower case without the trailing dot; the root name (null MX) becomes "". */
function exchangeName(exchange: string): string {
  return exchange.trim().toLowerCase().replace(/\.$/, "");
}

/**
 * Sorts by preference, keeps each name once (at its best preference), and
 * shuffles hosts of equal preference (RFC 5321 §5.1: "randomize them to
 * spread the load").
 */
function orderByPreference(
  records: { name: string; preference: number }[],
  random: () => number,
): { name: string; preference: number }[] {
  const best = new Map<string, number>();
  for (const r of records) {
    best.set(r.name, Math.min(r.preference, best.get(r.name) ?? Infinity));
  }
  const groups = new Map<number, string[]>();
  for (const [name, preference] of best) {
    groups.set(preference, [...(groups.get(preference) ?? []), name]);
  }
  const ordered: { name: string; preference: number }[] = [];
  for (const preference of [...groups.keys()].sort((a, b) => a - b)) {
    const names = groups.get(preference) as string[];
    // Fisher–Yates.
    for (let i = names.length - 1; i > 0; i--) {
      const j = Math.min(i, Math.floor(random() * (i + 1)));
      [names[i], names[j]] = [names[j] as string, names[i] as string];
    }
    for (const name of names) ordered.push({ name, preference });
  }
  return ordered;
}
