/**
 * Outbound TLS policy per destination domain: the config's `outbound_tls`
 * default and its `[tls_policy]` table, matched like the transport map
 * (exact domain first, then `.parent` keys from the nearest up).
 *
 * - `none`: never STARTTLS;
 * - `opportunistic`: STARTTLS when offered, no certificate check, plaintext
 *   when the handshake fails (RFC 7435);
 * - `required`: must encrypt, no certificate check; otherwise defer;
 * - `verify`: must encrypt, and the certificate must chain to a trusted CA
 *   and name the MX host; otherwise defer.
 *
 * @example
 * ```ts
 * const policies = parseTlsPolicies({ "bank.example": "verify", ".corp.example": "required" });
 * policies.policyFor("bank.example"); // "verify"
 * policies.policyFor("mx.corp.example"); // "required"
 * policies.policyFor("other.example"); // "opportunistic"
 * ```
 *
 * @module
 */
import { asciiDomain } from "./mx.ts";
import type { TlsPolicy } from "./smtp_client.ts";

export type { TlsPolicy } from "./smtp_client.ts";

/** Every policy name, weakest first. */
export const TLS_POLICIES: readonly TlsPolicy[] = ["none", "opportunistic", "required", "verify"];

/** Whether `value` names a policy. */
export function isTlsPolicy(value: unknown): value is TlsPolicy {
  return typeof value === "string" && (TLS_POLICIES as readonly string[]).includes(value);
}

/** Whether the policy forbids sending in plaintext. */
export function mandatesTls(policy: TlsPolicy): boolean {
  return policy === "required" || policy === "verify";
}

/** The policies in force: a default and per-domain entries. */
export interface TlsPolicies {
  /** The policy for mail when no entry matches. */
  readonly fallback: TlsPolicy;
  /** Normalized keys (lower case, punycode; `.parent` for subdomains) and their policy. */
  readonly entries: ReadonlyMap<string, TlsPolicy>;
  /** The policy for mail to `domain`. */
  policyFor(domain: string): TlsPolicy;
}

/**
 * Validates the `[tls_policy]` table. Keys are `domain` (that domain only)
 * or `.domain` (every subdomain of it), as in the transport map.
 *
 * @throws {TypeError} naming the key, for a bad domain, an unknown policy or
 * a duplicate after normalization.
 */
export function parseTlsPolicies(
  table: Record<string, unknown>,
  fallback: TlsPolicy = "opportunistic",
): TlsPolicies {
  if (!isTlsPolicy(fallback)) {
    throw new TypeError(`outbound_tls: must be one of ${TLS_POLICIES.join(", ")}`);
  }
  const entries = new Map<string, TlsPolicy>();
  for (const [key, value] of Object.entries(table)) {
    const subdomains = key.startsWith(".");
    const name = asciiDomain(subdomains ? key.slice(1) : key);
    if (name === undefined) throw new TypeError(`tls_policy: invalid domain "${key}"`);
    const normalized = subdomains ? `.${name}` : name;
    if (entries.has(normalized)) throw new TypeError(`tls_policy: duplicate domain "${key}"`);
    if (!isTlsPolicy(value)) {
      throw new TypeError(
        `tls_policy: "${key}" must be one of ${TLS_POLICIES.map((p) => `"${p}"`).join(", ")}, not ${
          JSON.stringify(value)
        }`,
      );
    }
    entries.set(normalized, value);
  }
  return {
    fallback,
    entries,
    policyFor: (domain) => lookup(domain, entries) ?? fallback,
  };
}

function lookup(domain: string, entries: Map<string, TlsPolicy>): TlsPolicy | undefined {
  if (entries.size === 0) return undefined;
  const name = asciiDomain(domain.trim().replace(/\.$/, ""));
  if (name === undefined) return undefined;
  const exact = entries.get(name);
  if (exact) return exact;
  const labels = name.split(".");
  for (let i = 1; i < labels.length; i++) {
    const parent = entries.get(`.${labels.slice(i).join(".")}`);
    if (parent) return parent;
  }
  return undefined;
}
