/**
 * A parser for the HAProxy PROXY protocol header, versions 1 (text) and 2
 * (binary), which a proxy or load balancer sends before the client's first
 * byte so that the server still sees the client's address.
 *
 * The parser is incremental: feed it everything received so far and it says
 * `incomplete` (read more), `invalid` (close the connection) or `ok` (the
 * header ends after `consumed` bytes; the SMTP session starts with the rest).
 * A listener with the PROXY protocol on requires the header, so bytes that
 * cannot start one are `invalid`, never a plain SMTP client: the header must
 * not be spoofable by clients that reach the listener directly.
 *
 * Reference: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 * (sections 2.1 and 2.2 below).
 *
 * @module
 */
import { isIP } from "node:net";

/** One end of the proxied connection, as the proxy saw it. */
export interface ProxyEndpoint {
  /** IPv4 dotted quad or canonical IPv6 (RFC 5952), without brackets. */
  address: string;
  port: number;
}

/**
 * What {@linkcode parseProxyHeader} found. An `ok` without `source` (v1
 * `UNKNOWN`, v2 `LOCAL`, or an address family we cannot use) means "keep the
 * real connection's endpoints".
 */
export type ProxyResult =
  | { kind: "incomplete" }
  | { kind: "invalid"; reason: string }
  | { kind: "ok"; consumed: number; source?: ProxyEndpoint; destination?: ProxyEndpoint };

/** §2.1: the longest v1 line, CRLF included. */
export const MAX_V1_LENGTH = 107;
/**
 * The longest v2 header we accept, TLVs included. §2.2 suggests a 536-byte
 * read buffer; addresses take at most 232 bytes (AF_UNIX), so this bound
 * only limits TLVs, which we ignore anyway.
 */
export const MAX_V2_LENGTH = 536;

/** §2.2: the v2 signature, `\r\n\r\n\0\r\nQUIT\n`. */
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const V2_FIXED = 16;
const V1_PREFIX = "PROXY ";
const CR = 0x0d;
const LF = 0x0a;

/**
 * Parses the PROXY header at the start of `buf`. Never throws.
 *
 * @param buf every byte received on the connection so far
 * @returns `incomplete` until the header is whole, then `ok` or `invalid`
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("PROXY TCP4 192.0.2.1 198.51.100.2 4321 25\r\nEHLO x\r\n");
 * parseProxyHeader(bytes);
 * // { kind: "ok", consumed: 43, source: { address: "192.0.2.1", port: 4321 },
 * //   destination: { address: "198.51.100.2", port: 25 } }
 * ```
 */
export function parseProxyHeader(buf: Uint8Array): ProxyResult {
  if (buf.length === 0) return { kind: "incomplete" };
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  if (buf[0] === V1_PREFIX.charCodeAt(0)) return parseV1(buf);
  return invalid("no PROXY protocol header");
}

function invalid(reason: string): ProxyResult {
  return { kind: "invalid", reason };
}

/** §2.1: `PROXY <TCP4|TCP6> <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN ...\r\n`. */
function parseV1(buf: Uint8Array): ProxyResult {
  let line = "";
  let end = -1;
  for (let i = 0; i < buf.length && i < MAX_V1_LENGTH; i++) {
    const byte = buf[i] as number;
    if (i < V1_PREFIX.length) {
      if (byte !== V1_PREFIX.charCodeAt(i)) return invalid("bad v1 signature");
      continue;
    }
    if (byte === CR) {
      if (i + 2 > MAX_V1_LENGTH) return invalid("v1 header too long");
      if (i + 1 >= buf.length) return { kind: "incomplete" };
      if (buf[i + 1] !== LF) return invalid("bare CR in v1 header");
      end = i;
      break;
    }
    // Only printable US-ASCII may appear on the line.
    if (byte < 0x20 || byte > 0x7e) return invalid("bad byte in v1 header");
    line += String.fromCharCode(byte);
  }
  if (end < 0) {
    return buf.length >= MAX_V1_LENGTH ? invalid("v1 header too long") : { kind: "incomplete" };
  }
  const consumed = end + 2;
  const fields = line.split(" ");
  // "UNKNOWN" may be followed by anything, which the receiver must ignore.
  if (fields[0] === "UNKNOWN") return { kind: "ok", consumed };
  const [protocol, src, dst, sport, dport, ...rest] = fields;
  if (protocol !== "TCP4" && protocol !== "TCP6") return invalid("bad v1 protocol");
  if (dport === undefined || rest.length > 0) return invalid("bad v1 field count");
  const family = protocol === "TCP4" ? 4 : 6;
  const source = v1Address(src as string, family);
  const destination = v1Address(dst as string, family);
  const sourcePort = v1Port(sport as string);
  const destinationPort = v1Port(dport);
  if (source === undefined || destination === undefined) return invalid("bad v1 address");
  if (sourcePort === undefined || destinationPort === undefined) return invalid("bad v1 port");
  return {
    kind: "ok",
    consumed,
    source: { address: source, port: sourcePort },
    destination: { address: destination, port: destinationPort },
  };
}

function v1Address(text: string, family: 4 | 6): string | undefined {
  // isIP accepts zone ids ("fe80::1%eth0"), which a proxy never sends.
  if (text.includes("%") || isIP(text) !== family) return undefined;
  return family === 4 ? text : canonicalIpv6(text);
}

/** A decimal port 0..65535 without leading zeros. */
function v1Port(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

/** §2.2: signature, version/command, family/protocol, length, addresses, TLVs. */
function parseV2(buf: Uint8Array): ProxyResult {
  for (let i = 0; i < V2_SIGNATURE.length && i < buf.length; i++) {
    if (buf[i] !== V2_SIGNATURE[i]) return invalid("bad v2 signature");
  }
  // Each check runs as soon as its byte is here, so garbage fails early.
  const versionCommand = buf[12];
  if (versionCommand === undefined) return { kind: "incomplete" };
  if (versionCommand >> 4 !== 2) return invalid("unsupported v2 version");
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid("unknown v2 command");
  const familyProtocol = buf[13];
  if (familyProtocol === undefined) return { kind: "incomplete" };
  // 0x0: LOCAL, a health check from the proxy itself: keep the real
  // endpoints and ignore the family byte, as §2.2 says.
  const local = command === 0;
  const family = familyProtocol >> 4;
  const protocol = familyProtocol & 0x0f;
  if (!local && (family > 3 || protocol > 2)) {
    return invalid("unknown v2 address family or protocol");
  }
  const high = buf[14];
  const low = buf[15];
  if (high === undefined || low === undefined) return { kind: "incomplete" };
  const length = high * 256 + low;
  const consumed = V2_FIXED + length;
  if (consumed > MAX_V2_LENGTH) return invalid("v2 header too long");
  const needed = local ? 0 : [0, 12, 36, 216][family] as number;
  if (length < needed) return invalid("v2 address block too short");
  if (buf.length < consumed) return { kind: "incomplete" };
  // AF_UNSPEC and AF_UNIX carry nothing an SMTP server can use as a client IP.
  if (local || family === 0 || family === 3) return { kind: "ok", consumed };
  if (protocol !== 1) return invalid("v2 proxied connection is not TCP");
  const at = V2_FIXED;
  const size = family === 1 ? 4 : 16;
  const address = (offset: number) =>
    family === 1
      ? Array.from(buf.subarray(offset, offset + 4)).join(".")
      : v2Ipv6(buf.subarray(offset, offset + 16));
  const port = (offset: number) => (buf[offset] as number) * 256 + (buf[offset + 1] as number);
  return {
    kind: "ok",
    consumed,
    source: { address: address(at), port: port(at + 2 * size) },
    destination: { address: address(at + size), port: port(at + 2 * size + 2) },
  };
}

function v2Ipv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((bytes[i] as number) * 256 + (bytes[i + 1] as number)).toString(16));
  }
  return canonicalIpv6(groups.join(":"));
}

/**
 * RFC 5952 text for a valid IPv6 address. IPv4-mapped addresses keep the
 * dotted tail (`::ffff:192.0.2.1`), as runtime sockets report them.
 */
function canonicalIpv6(text: string): string {
  // The URL parser implements RFC 5952 §4 the same way on Deno and Bun.
  const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return canonical;
  const high = parseInt(mapped[1] as string, 16);
  const low = parseInt(mapped[2] as string, 16);
  return `::ffff:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}
