/**
 * `helo_check`: refuses HELO/EHLO names that lie or cannot be right, with
 * Postfix's reply codes:
 *
 * - a name that is not a host name or address literal (RFC 5321 §4.1.1.1):
 *   `501 5.5.2`, like `reject_invalid_helo_hostname`;
 * - our own host name, one of our local domains, or one of our own
 *   addresses (`[192.0.2.25]`): `550 5.7.1 … You are not me`. Only spam
 *   software claims to be the server it is talking to. A client may name its
 *   own address, even when it is ours (a local client on loopback);
 * - with `requireFqdn`, a name without a dot: `504 5.5.2`, like
 *   `reject_non_fqdn_helo_hostname`. Address literals are exempt.
 *
 * Like Postfix, a bare address without brackets counts as an address
 * literal, and one trailing dot is allowed.
 *
 * ```toml
 * plugins = ["helo_check"]
 * [plugin.helo_check]
 * require_fqdn = true                # optional, default false
 * local_addresses = ["203.0.113.25"] # optional: public addresses behind NAT
 * ```
 *
 * @module
 */
import { isIP } from "node:net";
import { reject } from "../core/hooks/decision.ts";
import type { PluginHost } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import { isValidDomain } from "../core/smtp/address.ts";

/** Options for {@linkcode heloCheck}. */
export interface HeloCheckOptions {
  /** Our host name, as in the greeting. */
  hostname: string;
  /** Our local domains. */
  domains: readonly string[];
  /** Our addresses besides the listener's own (for example a public IP behind NAT). */
  localAddresses?: readonly string[];
  /** Refuse names without a dot (504 5.5.2). */
  requireFqdn?: boolean;
}

/**
 * Creates the `helo_check` plugin. Throws a `TypeError` for bad options.
 *
 * @example
 * ```ts
 * const plugin = heloCheck({ hostname: "mx.example.org", domains: ["example.org"], requireFqdn: true });
 * ```
 */
export function heloCheck(options: HeloCheckOptions): Plugin {
  const ours = new Set([options.hostname, ...options.domains].map(normalName));
  const ourAddresses = new Set<string>();
  for (const address of options.localAddresses ?? []) {
    const canonical = canonicalAddress(address);
    if (canonical === undefined) {
      throw new TypeError(`helo_check: "${address}" is not an IP address`);
    }
    ourAddresses.add(canonical);
  }
  return {
    name: "helo_check",
    helo(ctx, { name }) {
      const claimed = claimedAddress(name);
      if (claimed !== undefined) {
        if (claimed === null) return reject(501, "5.5.2", "Helo command rejected: Invalid name");
        const { local, remote } = ctx.connection;
        const mine = claimed === canonicalAddress(local.address) || ourAddresses.has(claimed);
        if (mine && claimed !== canonicalAddress(remote.address)) return notMe(name);
        return undefined;
      }
      const host = normalName(name);
      // A numeric last label cannot be a TLD (RFC 3696 §2), so "1.2.3" is no name.
      if (!isValidDomain(host) || /(^|\.)\d+$/.test(host)) {
        return reject(501, "5.5.2", "Helo command rejected: Invalid name");
      }
      if (ours.has(host)) return notMe(name);
      if (options.requireFqdn && !host.includes(".")) {
        return reject(
          504,
          "5.5.2",
          `<${name}>: Helo command rejected: need fully-qualified hostname`,
        );
      }
      return undefined;
    },
  };
}

function notMe(name: string) {
  return reject(550, "5.7.1", `<${name}>: Helo command rejected: You are not me`);
}

/** Lower case, without one trailing dot. */
function normalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * The canonical address a HELO name claims: `[192.0.2.1]`, `[IPv6:…]` or a
 * bare address. `null` for a bracketed name that is no valid literal;
 * undefined for a host name.
 */
function claimedAddress(name: string): string | null | undefined {
  if (name.startsWith("[")) {
    if (!isValidDomain(name)) return null;
    const inner = name.slice(1, -1);
    // RFC 5321 §4.1.3 allows leading zeros in a literal ("[192.000.002.001]").
    const v6 = /^IPv6:/i.test(inner);
    const text = v6 ? inner.slice(5) : inner.split(".").map(Number).join(".");
    return canonicalAddress(text) ?? null;
  }
  return canonicalAddress(name);
}

/** Dotted IPv4 (also for IPv4-mapped IPv6) or RFC 5952 IPv6; undefined if not an address. */
function canonicalAddress(address: string): string | undefined {
  if (address.includes("%")) return undefined;
  const family = isIP(address);
  if (family === 4) return address;
  if (family !== 6) return undefined;
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  // The URL parser writes ::ffff:192.0.2.1 as ::ffff:c000:201.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return canonical;
  const high = parseInt(mapped[1] as string, 16);
  const low = parseInt(mapped[2] as string, 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The built-in `helo_check`: our host name and domains from the host, and
 * `require_fqdn` (boolean) and `local_addresses` (string[]) from the
 * `[plugin.helo_check]` table. Throws an `Error` naming a bad option.
 */
export function heloCheckFromHost(
  host: Pick<PluginHost, "options" | "hostname" | "domains">,
): Plugin {
  const known = new Set(["require_fqdn", "local_addresses"]);
  for (const key of Object.keys(host.options)) {
    if (!known.has(key)) throw new Error(`plugin.helo_check: unknown option "${key}"`);
  }
  const { require_fqdn: requireFqdn = false, local_addresses: addresses = [] } = host.options;
  if (typeof requireFqdn !== "boolean") {
    throw new Error("plugin.helo_check: require_fqdn must be true or false");
  }
  if (!Array.isArray(addresses) || !addresses.every((a) => typeof a === "string")) {
    throw new Error("plugin.helo_check: local_addresses must be an array of strings");
  }
  try {
    return heloCheck({
      hostname: host.hostname,
      domains: host.domains,
      localAddresses: addresses,
      requireFqdn,
    });
  } catch (error) {
    throw new Error(`plugin.${(error as Error).message}`);
  }
}
