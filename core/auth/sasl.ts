/**
 * SASL wire helpers for SMTP AUTH (RFC 4954): strict base64, the PLAIN
 * mechanism (RFC 4616), the LOGIN mechanism's prompts and fields, and the
 * client's `*` cancel. Everything here is pure: the session owns the dialogue
 * and the replies (501 5.5.2 for "malformed", 501 for a cancel).
 *
 * @example
 * ```ts
 * const parsed = parsePlain("AGFsaWNlAHNlY3JldA=="); // "\0alice\0secret"
 * if (parsed === "malformed") {
 *   // reply 501 5.5.2
 * }
 * ```
 *
 * @module
 */

/** RFC 4616 §2 and RFC 4954: each credential field is at most 255 octets. */
const MAX_FIELD_OCTETS = 255;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** Character code → 6-bit value, or -1 outside the RFC 4648 §4 alphabet. */
const VALUES: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) table[ALPHABET.charCodeAt(i)] = i;
  return table;
})();

const PAD = 0x3d; // "="

function valueAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code < 128 ? (VALUES[code] ?? -1) : -1;
}

/**
 * Decodes strict base64 (RFC 4648 §4): the standard alphabet, no whitespace
 * or line breaks, a length that is a multiple of 4, `=` only as the last one
 * or two characters, and zero pad bits (RFC 4648 §3.5: canonical encoding,
 * which every real encoder produces).
 *
 * `"="` alone is RFC 4954 §4's zero-length initial response and decodes to an
 * empty array, as does `""` (the empty line a client sends as an empty
 * response to a challenge).
 *
 * @param text The base64 text, without the line's CRLF.
 * @returns The decoded bytes, or `undefined` when `text` is not strict base64.
 *
 * @example
 * ```ts
 * decodeBase64("YWI="); // Uint8Array [0x61, 0x62]
 * decodeBase64("YW I="); // undefined
 * ```
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text === "=" || text === "") return new Uint8Array(0);
  if (text.length % 4 !== 0) return undefined;
  let padding = 0;
  if (text.charCodeAt(text.length - 1) === PAD) padding++;
  if (text.charCodeAt(text.length - 2) === PAD) padding++;
  const bytes = new Uint8Array((text.length / 4) * 3 - padding);
  let out = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const a = valueAt(text, i);
    const b = valueAt(text, i + 1);
    // In the last quantum, "xx==" and "xxx=" are the only padded shapes.
    const c = last && padding === 2 ? 0 : valueAt(text, i + 2);
    const d = last && padding >= 1 ? 0 : valueAt(text, i + 3);
    if (a < 0 || b < 0 || c < 0 || d < 0) return undefined;
    const group = (a << 18) | (b << 12) | (c << 6) | d;
    bytes[out++] = group >> 16;
    if (last && padding === 2) {
      if ((group & 0xffff) !== 0) return undefined; // non-zero pad bits
      break;
    }
    bytes[out++] = (group >> 8) & 0xff;
    if (last && padding === 1) {
      if ((group & 0xff) !== 0) return undefined; // non-zero pad bits
      break;
    }
    bytes[out++] = group & 0xff;
  }
  return bytes;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes UTF-8, or returns undefined for invalid sequences (no U+FFFD). */
function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Credentials carried by one AUTH PLAIN response (RFC 4616 §2). */
export interface PlainCredentials {
  /** The identity to act as; empty when the client asks for its own. */
  authzid: string;
  /** The identity whose password is checked (the login name). */
  authcid: string;
  /** The password, as sent; never log it. */
  password: string;
}

/**
 * Parses an AUTH PLAIN response (RFC 4616 §2): base64 of
 * `[authzid] NUL authcid NUL passwd`, each field UTF-8 without NUL and at
 * most 255 octets, with `authcid` and `passwd` non-empty.
 *
 * @param response The base64 initial response or challenge response.
 * @returns The credentials, or `"malformed"` (reply 501 5.5.2).
 *
 * @example
 * ```ts
 * parsePlain("AGFsaWNlAHNlY3JldA==");
 * // { authzid: "", authcid: "alice", password: "secret" }
 * ```
 */
export function parsePlain(response: string): PlainCredentials | "malformed" {
  const bytes = decodeBase64(response);
  if (bytes === undefined) return "malformed";
  const first = bytes.indexOf(0);
  const second = first < 0 ? -1 : bytes.indexOf(0, first + 1);
  // Exactly two NULs: a third would sit inside the password (RFC 4616 §2).
  if (second < 0 || bytes.indexOf(0, second + 1) >= 0) return "malformed";
  const fields = [
    bytes.subarray(0, first),
    bytes.subarray(first + 1, second),
    bytes.subarray(second + 1),
  ];
  const texts: string[] = [];
  for (const field of fields) {
    if (field.length > MAX_FIELD_OCTETS) return "malformed";
    const text = decodeUtf8(field);
    if (text === undefined) return "malformed";
    texts.push(text);
  }
  const [authzid = "", authcid = "", password = ""] = texts;
  if (authcid === "" || password === "") return "malformed";
  return { authzid, authcid, password };
}

/** The AUTH LOGIN username prompt: base64 of `"Username:"`, sent as `334 VXNlcm5hbWU6`. */
export const LOGIN_USERNAME = "VXNlcm5hbWU6";

/** The AUTH LOGIN password prompt: base64 of `"Password:"`, sent as `334 UGFzc3dvcmQ6`. */
export const LOGIN_PASSWORD = "UGFzc3dvcmQ6";

/**
 * Parses one AUTH LOGIN field (the username or the password): base64 of
 * non-empty UTF-8 of at most 255 octets, without NUL, CR or LF.
 *
 * LOGIN has no RFC (draft-murchison-sasl-login); the bounds match PLAIN's so
 * both mechanisms accept the same credentials.
 *
 * @param response The client's base64 line, without its CRLF.
 * @returns The decoded text, or `"malformed"` (reply 501 5.5.2).
 *
 * @example
 * ```ts
 * parseLoginField("YWxpY2U="); // "alice"
 * parseLoginField("=");        // "malformed" (empty)
 * ```
 */
export function parseLoginField(response: string): string | "malformed" {
  const bytes = decodeBase64(response);
  if (bytes === undefined || bytes.length === 0 || bytes.length > MAX_FIELD_OCTETS) {
    return "malformed";
  }
  // NUL, LF, CR: control bytes that could split a log line or a lookup key.
  if (bytes.some((byte) => byte === 0 || byte === 0x0a || byte === 0x0d)) return "malformed";
  return decodeUtf8(bytes) ?? "malformed";
}

/**
 * Tells whether a client line cancels the AUTH exchange: a single `*`
 * (RFC 4954 §4), which the server answers with 501.
 *
 * @param line The client's line, without its CRLF.
 * @returns `true` for exactly `"*"`.
 *
 * @example
 * ```ts
 * isCancel("*"); // true
 * isCancel("Kg=="); // false (that is base64 of "*")
 * ```
 */
export function isCancel(line: string): boolean {
  return line === "*";
}
