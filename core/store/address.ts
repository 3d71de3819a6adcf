/**
 * Mailbox addresses as the directory stores them: validation of the
 * `local@domain` form, and the normalized spelling used as a key.
 *
 * @module
 */

/** RFC 5321 §4.5.3.1.1: the local part is at most 64 octets. */
const MAX_LOCAL_OCTETS = 64;
/** RFC 5321 §4.5.3.1.2: the domain is at most 255 octets. */
const MAX_DOMAIN_OCTETS = 255;
/** RFC 1035 §2.3.4: a label is at most 63 octets. */
const MAX_LABEL_OCTETS = 63;

// RFC 5321 §4.1.2 Atom = 1*atext (RFC 5322 §3.2.3), plus, for SMTPUTF8
// (RFC 6531 §3.3), non-ASCII letters, marks and digits.
const ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\p{L}\p{M}\p{N}]+$/u;
// RFC 5321 §4.1.2 sub-domain = Let-dig [Ldh-str], with U-labels (RFC 5890)
// allowed as letters for SMTPUTF8.
const LABEL =
  /^[A-Za-z0-9\p{L}\p{M}\p{N}](?:[A-Za-z0-9\p{L}\p{M}\p{N}-]*[A-Za-z0-9\p{L}\p{M}\p{N}])?$/u;

const encoder = new TextEncoder();

function octets(text: string): number {
  return encoder.encode(text).length;
}

/** The two halves of a mailbox address. */
export interface AddressParts {
  /** Everything before the last `@`. */
  readonly local: string;
  /** Everything after the last `@`. */
  readonly domain: string;
}

/**
 * Splits an address at its last `@`.
 *
 * @param addr An address such as `alice@example.com`.
 * @returns The local part and the domain.
 * @throws {TypeError} When `addr` contains no `@`.
 *
 * @example
 * ```ts
 * splitAddress("alice@example.com"); // { local: "alice", domain: "example.com" }
 * ```
 */
export function splitAddress(addr: string): AddressParts {
  const at = addr.lastIndexOf("@");
  if (at < 0) throw new TypeError(`Not a mailbox address (no "@"): ${JSON.stringify(addr)}`);
  return { local: addr.slice(0, at), domain: addr.slice(at + 1) };
}

/**
 * The spelling the directory keys on: trimmed, both halves lowercased, and
 * Unicode in NFC so that one UTF-8 address has one key.
 *
 * Lowercasing the local part is a deliberate choice: RFC 5321 §2.4 lets a
 * server treat local parts as case-sensitive, but Postino's users do not.
 *
 * @param text The address as given.
 * @returns The normalized address; text without `@` is only trimmed and
 * lowercased.
 *
 * @example
 * ```ts
 * normalizeAddress("  Alice@Example.COM "); // "alice@example.com"
 * ```
 */
export function normalizeAddress(text: string): string {
  return text.trim().normalize("NFC").toLowerCase();
}

/**
 * Whether `text` is a mailbox address Postino can store: a dot-atom local
 * part (RFC 5321 atext, or UTF-8 letters for SMTPUTF8) `@` a domain of
 * letter-digit-hyphen labels, within the RFC 5321 length limits. Quoted local
 * parts and address literals are refused.
 *
 * @param text The address, without angle brackets or surrounding spaces.
 * @returns `true` when the address is acceptable.
 *
 * @example
 * ```ts
 * isValidMailboxAddress("alice.smith@example.com"); // true
 * isValidMailboxAddress("alice..smith@example.com"); // false
 * ```
 */
export function isValidMailboxAddress(text: string): boolean {
  const at = text.lastIndexOf("@");
  if (at < 0) return false;
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  if (octets(local) > MAX_LOCAL_OCTETS || octets(domain) > MAX_DOMAIN_OCTETS) return false;
  // Splitting on "." makes "..", a leading dot and a trailing dot show up as
  // empty atoms or labels, which the patterns refuse.
  if (!local.split(".").every((atom) => ATOM.test(atom))) return false;
  return domain.split(".").every((label) => octets(label) <= MAX_LABEL_OCTETS && LABEL.test(label));
}
