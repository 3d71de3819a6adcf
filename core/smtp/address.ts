/**
 * Parses the reverse-path and forward-path of MAIL and RCPT
 * (RFC 5321 §4.1.2), with UTF-8 addresses for SMTPUTF8 (RFC 6531 §3.3).
 *
 * @module
 */

/** A mailbox address from the envelope. */
export interface Mailbox {
  /** The local part as sent (a quoted string keeps its quotes). */
  local: string;
  /** The domain, lower-cased; an address literal keeps its brackets. */
  domain: string;
  /** `local@domain`, the form used for lookups and headers. */
  address: string;
  /** Whether any part uses characters beyond ASCII. */
  utf8: boolean;
}

/** A parsed path and the text after it (the ESMTP parameters). */
export interface ParsedPath {
  /** `null` for the null reverse-path `<>`. */
  mailbox: Mailbox | null;
  rest: string;
}

/** Why a path did not parse. */
export type PathError = "syntax" | "address";

// atext of RFC 5322 §3.2.3, widened by RFC 6531 to any non-ASCII character.
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\u0080-\\u{10FFFF}]";
const DOT_STRING = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`, "u");
const QUOTED_STRING = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\u{10FFFF}]|\\[\x20-\x7e])*"$/u;
const LABEL =
  /^(?:[A-Za-z0-9\u0080-\u{10FFFF}](?:[A-Za-z0-9\-\u0080-\u{10FFFF}]*[A-Za-z0-9\u0080-\u{10FFFF}])?)$/u;
const IPV4 = /^\[(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\]$/;
const IPV6 = /^\[IPv6:([0-9A-Fa-f:.]{2,45})\]$/i;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
// A source route such as `@a.example,@b.example:` (RFC 5321 §4.1.1.3).
const SOURCE_ROUTE = /^@[^,:]+(?:,@[^,:]+)*:/;

/** Whether `domain` is a valid domain name or address literal. */
export function isValidDomain(domain: string): boolean {
  if (domain.startsWith("[")) {
    const v4 = IPV4.exec(domain);
    if (v4) return v4.slice(1).every((part) => Number(part) <= 255);
    const v6 = IPV6.exec(domain);
    return v6 !== null && isIpv6(v6[1] ?? "");
  }
  if (domain.length === 0 || domain.length > 255) return false;
  return domain.split(".").every((label) => label.length <= 63 && LABEL.test(label));
}

/**
 * Whether `text` is an IPv6 address in one of the RFC 5321 §4.1.3 forms:
 * eight groups, `::` standing for the missing ones, or either with a
 * trailing IPv4 address in place of the last two groups.
 */
function isIpv6(text: string): boolean {
  const v4 = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (v4 && !(v4[2] ?? "").split(".").every((part) => Number(part) <= 255)) return false;
  const halves = (v4 ? `${v4[1]}0:0` : text).split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => half === "" ? [] : half.split(":"));
  if (!groups.every((group) => HEX_GROUP.test(group))) return false;
  // `::` stands for at least one zero group (RFC 4291 §2.2 is laxer than 5321's two).
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8;
}

/** Parses `local@domain` (no angle brackets); `undefined` if invalid. */
export function parseMailbox(text: string): Mailbox | undefined {
  const at = text.lastIndexOf("@");
  if (at <= 0) return undefined;
  const local = text.slice(0, at);
  // ASCII case folding only: Unicode folding would turn "\u212Aelvin" into "kelvin".
  const domain = text.slice(at + 1).replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (!DOT_STRING.test(local) && !QUOTED_STRING.test(local)) return undefined;
  if (new TextEncoder().encode(local).byteLength > 64) return undefined;
  if (!isValidDomain(domain)) return undefined;
  // deno-lint-ignore no-control-regex
  const utf8 = /[^\x00-\x7f]/.test(text);
  return { local, domain, address: `${local}@${domain}`, utf8 };
}

/**
 * Parses `<path> params…` after `FROM:` or `TO:`.
 *
 * @example
 * ```ts
 * parsePath("<a@example.org> SIZE=10", { allowNull: true });
 * // → { mailbox: { local: "a", domain: "example.org", … }, rest: "SIZE=10" }
 * ```
 */
export function parsePath(
  text: string,
  options: { allowNull: boolean },
): ParsedPath | PathError {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith("<")) return "syntax";
  const close = findClosingBracket(trimmed);
  if (close === -1) return "syntax";
  const inner = trimmed.slice(1, close);
  const after = trimmed.slice(close + 1);
  if (after !== "" && !after.startsWith(" ")) return "syntax";
  const rest = after.trim();
  if (inner === "") return options.allowNull ? { mailbox: null, rest } : "address";
  // Source routes must be accepted and ignored (RFC 5321 §4.1.1.3, App. C).
  const mailbox = parseMailbox(inner.replace(SOURCE_ROUTE, ""));
  return mailbox ? { mailbox, rest } : "address";
}

/** Index of the `>` ending the path, skipping any inside a quoted string. */
function findClosingBracket(text: string): number {
  let quoted = false;
  for (let i = 1; i < text.length; i++) {
    const ch = text[i];
    if (quoted && ch === "\\") i++;
    else if (ch === '"') quoted = !quoted;
    else if (ch === ">" && !quoted) return i;
  }
  return -1;
}
