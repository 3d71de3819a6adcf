/**
 * A minimal DNS stub resolver (RFC 1035) for the three queries mail routing
 * needs: MX, A and AAAA, over UDP with a TCP retry when the answer is
 * truncated.
 *
 * It exists because `node:dns` on Deno reports SERVFAIL, REFUSED, FORMERR and
 * NOTIMP as `ENOTFOUND`, the code for NXDOMAIN, which would turn a resolver
 * outage into permanent bounces. This client reads the RCODE itself, so Deno
 * and Bun throw the same `code`s: `ENOTFOUND` (NXDOMAIN), `ENODATA` (no record
 * of the type), `ESERVFAIL`, `EREFUSED`, `EFORMERR`, `ENOTIMP`, `ETIMEOUT`,
 * `ECONNREFUSED`, `EBADRESP` (a malformed answer, a CNAME loop) and
 * `EBADNAME` (a name that cannot be queried).
 *
 * One gap remains: Deno's `node:dgram` drops ICMP "port unreachable", so a
 * UDP server that is not running gives `ETIMEOUT` there and `ECONNREFUSED`
 * on Bun. Both are temporary failures to the MX resolver.
 *
 * This file is over the ~300-line guideline because the wire format
 * (`encodeQuery`, `Reader`, `ipv6`) lives here too; it serves only these
 * three queries. It can move to a `dns_packet.ts` if another user appears.
 *
 * @module
 */
import { createSocket } from "node:dgram";
import { readFile } from "node:fs/promises";
import { connect, isIP } from "node:net";
import type { DnsLookup } from "./mx.ts";

/** Options for {@linkcode createDnsClient}. */
export interface DnsClientOptions {
  /** `"HOST:PORT"`, `"HOST"` or `"[IPV6]:PORT"`; default: the first `nameserver` of `resolvConf`. */
  server?: string;
  /** Per-try timeout in milliseconds (default 5000); a query that times out is sent once more. */
  timeoutMs?: number;
  /** Where to find the default server (default `/etc/resolv.conf`). */
  resolvConf?: string;
}

/** A DNS server address, as {@linkcode parseDnsServer} validated it. */
export interface DnsServer {
  host: string;
  port: number;
  family: 4 | 6;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const TRIES = 2;
const RESOLV_CONF = "/etc/resolv.conf";
const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_MX = 15;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
/** RFC 1035 §2.3.4. */
const MAX_NAME_OCTETS = 255;
const MAX_CNAME_HOPS = 16;
/** RFC 1035 §4.1.1 RCODEs 1–5; 0 is NOERROR. */
const RCODE_ERRORS: Record<number, string> = {
  1: "EFORMERR",
  2: "ESERVFAIL",
  3: "ENOTFOUND",
  4: "ENOTIMP",
  5: "EREFUSED",
};

/**
 * Creates a stub resolver that sends every query to one server. Errors are
 * `Error`s with a `code` (see the module doc), like `node:dns`.
 *
 * @example
 * ```ts
 * const dns = createDnsClient({ server: "127.0.0.1:5353", timeoutMs: 2_000 });
 * const mx = await dns.resolveMx("example.test"); // [{ exchange, priority }]
 * ```
 */
export function createDnsClient(options: DnsClientOptions = {}): DnsLookup {
  // Parsed now, so that a bad --dns-server fails at startup.
  let server: Promise<DnsServer> | undefined = options.server === undefined
    ? undefined
    : Promise.resolve(parseDnsServer(options.server));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const lookup = async (name: string, type: number): Promise<Answer[]> => {
    server ??= systemServer(options.resolvConf ?? RESOLV_CONF);
    return query(await server, name, type, timeoutMs);
  };
  return {
    resolveMx: async (name) => (await lookup(name, TYPE_MX)) as MxData[],
    resolve4: async (name) => (await lookup(name, TYPE_A)) as string[],
    resolve6: async (name) => (await lookup(name, TYPE_AAAA)) as string[],
  };
}

/**
 * Validates a server address (`--dns-server`). Throws a `TypeError` when it
 * is not an IP address with an optional port (default 53).
 *
 * @example
 * ```ts
 * parseDnsServer("[::1]:5353"); // { host: "::1", port: 5353, family: 6 }
 * ```
 */
export function parseDnsServer(server: string): DnsServer {
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(server) ?? /^([^:]+)(?::(\d+))?$/.exec(server);
  const host = match ? match[1] as string : server;
  const port = match?.[2] === undefined ? 53 : Number(match[2]);
  const family = isIP(host);
  if (family === 0 || host.includes("%") || !(port >= 1 && port <= 65535)) {
    throw new TypeError(`invalid DNS server "${server}": expected IP, IP:PORT or [IPV6]:PORT`);
  }
  // The canonical form, to compare with the address replies come from.
  const canonical = family === 6 ? new URL(`http://[${host}]/`).hostname.slice(1, -1) : host;
  return { host: canonical, port, family: family === 6 ? 6 : 4 };
}

/**
 * The first usable `nameserver` of a resolv.conf(5) text, or `127.0.0.1`
 * (the documented default) when there is none. Scoped IPv6 addresses
 * (`fe80::1%eth0`) are skipped.
 */
export function nameserverFromResolvConf(text: string): string {
  for (const line of text.split("\n")) {
    const [keyword, address] = line.trim().split(/\s+/);
    if (keyword === "nameserver" && address !== undefined && !address.includes("%")) {
      if (isIP(address) !== 0) return address;
    }
  }
  return "127.0.0.1";
}

async function systemServer(path: string): Promise<DnsServer> {
  const text = await readFile(path, "utf8").catch(() => "");
  return parseDnsServer(nameserverFromResolvConf(text));
}

type MxData = { exchange: string; priority: number };
type Answer = string | MxData;
interface Record_ {
  name: string;
  type: number;
  data: Answer | undefined;
}
interface Message {
  rcode: number;
  truncated: boolean;
  answers: Record_[];
}

function dnsError(code: string, detail: string): Error {
  return Object.assign(new Error(`${detail}: ${code}`), { code });
}

/** One question, tried twice on timeout, then the answer records of `type`. */
async function query(
  server: DnsServer,
  name: string,
  type: number,
  timeoutMs: number,
): Promise<Answer[]> {
  const qname = name.replace(/\.$/, "");
  const what = `${typeName(type)} ${qname}`;
  for (let attempt = 1;; attempt++) {
    // A fresh id and source port per try (RFC 5452 §9.2), from a CSPRNG.
    const id = crypto.getRandomValues(new Uint16Array(1))[0] as number;
    const packet = encodeQuery(id, qname, type, what);
    const accept = (bytes: Uint8Array) => decodeReply(bytes, id, qname, type, what);
    try {
      let reply = await overUdp(server, packet, accept, timeoutMs, what);
      // RFC 7766 §5: a truncated UDP answer is asked again over TCP.
      if (reply.truncated) reply = await overTcp(server, packet, accept, timeoutMs, what);
      return answersOf(reply, qname, type, what);
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ETIMEOUT" || attempt >= TRIES) throw error;
    }
  }
}

function typeName(type: number): string {
  return type === TYPE_MX ? "MX" : type === TYPE_A ? "A" : "AAAA";
}

/** RFC 1035 §4.1: a header with RD set and one question of class IN. */
function encodeQuery(id: number, name: string, type: number, what: string): Uint8Array {
  const labels = name === "" ? [] : name.split(".");
  const size = labels.reduce((sum, label) => sum + label.length + 1, 1);
  if (
    size > MAX_NAME_OCTETS ||
    labels.some((label) => label.length === 0 || label.length > 63 || /[^\x21-\x7e]/.test(label))
  ) throw dnsError("EBADNAME", what);
  const packet = new Uint8Array(12 + size + 4);
  const view = new DataView(packet.buffer);
  view.setUint16(0, id);
  view.setUint16(2, 0x0100); // RD: ask the server to recurse.
  view.setUint16(4, 1);
  let at = 12;
  for (const label of labels) {
    packet[at++] = label.length;
    for (let i = 0; i < label.length; i++) packet[at++] = label.charCodeAt(i);
  }
  at++; // The root label.
  view.setUint16(at, type);
  view.setUint16(at + 2, CLASS_IN);
  return packet;
}

/**
 * Parses a reply, or returns undefined when it does not answer our query
 * (wrong id, not a response, another question): such packets may be spoofed
 * and are ignored. A matching reply whose records are malformed is EBADRESP.
 */
function decodeReply(
  bytes: Uint8Array,
  id: number,
  qname: string,
  type: number,
  what: string,
): Message | undefined {
  const reader = new Reader(bytes);
  let count: number[];
  let rcode: number;
  let flags: number;
  try {
    if (reader.u16() !== id) return undefined;
    flags = reader.u16();
    count = [reader.u16(), reader.u16(), reader.u16(), reader.u16()];
    rcode = flags & 0x000f;
    if ((flags & 0x8000) === 0 || (flags & 0x7800) !== 0) return undefined; // QR, OPCODE 0
    // Some servers leave the question out of a FORMERR or NOTIMP; an error
    // that skips the check can only ever defer mail, never bounce it.
    if (count[0] === 0 && rcode !== 0 && rcode !== 3) {
      return { rcode, truncated: false, answers: [] };
    }
    if (count[0] !== 1) return undefined;
    const asked = reader.name();
    if (asked.toLowerCase() !== qname.toLowerCase()) return undefined;
    if (reader.u16() !== type || reader.u16() !== CLASS_IN) return undefined;
  } catch {
    return undefined;
  }
  try {
    const answers: Record_[] = [];
    for (let i = 0; i < (count[1] as number); i++) {
      const record = reader.record();
      if (record !== undefined) answers.push(record);
    }
    return { rcode, truncated: (flags & 0x0200) !== 0, answers };
  } catch (error) {
    // A truncated reply may end in the middle of a record; TCP will be asked.
    if ((flags & 0x0200) !== 0) return { rcode, truncated: true, answers: [] };
    throw dnsError("EBADRESP", `${what} (${(error as Error).message})`);
  }
}

/** The records of `type` for `qname`, following CNAMEs within the answer section. */
function answersOf(reply: Message, qname: string, type: number, what: string): Answer[] {
  const failure = RCODE_ERRORS[reply.rcode];
  if (failure !== undefined) throw dnsError(failure, what);
  if (reply.rcode !== 0) throw dnsError("EBADRESP", `${what} (RCODE ${reply.rcode})`);
  let owner = qname.toLowerCase();
  for (let hops = 0; hops <= MAX_CNAME_HOPS; hops++) {
    const here = reply.answers.filter((r) => r.name.toLowerCase() === owner);
    const found = here.filter((r) => r.type === type).map((r) => r.data as Answer);
    if (found.length > 0) return found;
    const alias = here.find((r) => r.type === TYPE_CNAME);
    if (alias === undefined) throw dnsError("ENODATA", what);
    owner = (alias.data as string).toLowerCase();
  }
  throw dnsError("EBADRESP", `${what} (CNAME chain too long)`);
}

/** Reads a DNS message front to back; every read checks the bounds. */
class Reader {
  #bytes: Uint8Array;
  #at = 0;
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  u8(at = this.#at++): number {
    const byte = this.#bytes[at];
    if (byte === undefined) throw new RangeError("message too short");
    return byte;
  }

  u16(): number {
    return this.u8() * 256 + this.u8();
  }

  /** RFC 1035 §4.1.4: a name, with compression pointers followed. */
  name(): string {
    const labels: string[] = [];
    let at = this.#at;
    let octets = 1;
    let jumped = false;
    for (;;) {
      const length = this.u8(at);
      if (length === 0) break;
      if (length >= 0xc0) {
        const target = (length & 0x3f) * 256 + this.u8(at + 1);
        // A pointer must go back ("a prior occurrence"); with the name length
        // limit below, that makes a pointer loop impossible.
        if (target >= at) throw new RangeError("forward compression pointer");
        if (!jumped) this.#at = at + 2;
        jumped = true;
        at = target;
        continue;
      }
      if (length > 63) throw new RangeError("unknown label type");
      octets += length + 1;
      if (octets > MAX_NAME_OCTETS) throw new RangeError("name too long");
      let label = "";
      for (let i = 1; i <= length; i++) label += String.fromCharCode(this.u8(at + i));
      labels.push(label);
      at += length + 1;
    }
    if (!jumped) this.#at = at + 1;
    return labels.join(".");
  }

  /** One resource record (RFC 1035 §4.1.3); undefined for classes and types we do not use. */
  record(): Record_ | undefined {
    const name = this.name();
    const type = this.u16();
    const klass = this.u16();
    this.#at += 4; // TTL: a stub without a cache does not need it.
    const length = this.u16();
    const start = this.#at;
    const end = start + length;
    if (end > this.#bytes.length) throw new RangeError("record too short");
    let data: Answer | undefined;
    if (klass !== CLASS_IN) data = undefined;
    else if (type === TYPE_A && length === 4) {
      data = [this.u8(), this.u8(), this.u8(), this.u8()].join(".");
    } else if (type === TYPE_AAAA && length === 16) data = ipv6(this.#bytes.subarray(start, end));
    else if (type === TYPE_CNAME) data = this.name();
    else if (type === TYPE_MX) data = { priority: this.u16(), exchange: this.name() };
    else if (type === TYPE_A || type === TYPE_AAAA) throw new RangeError("bad address length");
    if (data !== undefined && typeof data !== "string" && this.#at !== end) {
      throw new RangeError("MX record length");
    }
    this.#at = end;
    return data === undefined ? undefined : { name, type, data };
  }
}

/** RFC 5952 §4: lower-case hex, the longest run of two or more zero groups as "::". */
function ipv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push((bytes[i] as number) * 256 + (bytes[i + 1] as number));
  }
  let best = { start: -1, length: 1 };
  for (let start = 0; start < 8;) {
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > best.length) best = { start, length: end - start };
    start = end === start ? start + 1 : end;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(":");
  return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.length).join(":")}`;
}

type Accept = (bytes: Uint8Array) => Message | undefined;

function overUdp(
  server: DnsServer,
  packet: Uint8Array,
  accept: Accept,
  timeoutMs: number,
  what: string,
): Promise<Message> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(server.family === 6 ? "udp6" : "udp4");
    let done = false;
    const finish = (error: Error | undefined, reply?: Message) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(reply as Message);
    };
    const timer = setTimeout(() => finish(dnsError("ETIMEOUT", what)), timeoutMs);
    socket.on("error", (error) => finish(socketError(error, what)));
    socket.on("message", (bytes, peer) => {
      // Connecting already filters sources where the runtime supports it.
      if (peer.port !== server.port || peer.address !== server.host) return;
      try {
        const reply = accept(bytes);
        if (reply !== undefined) finish(undefined, reply);
      } catch (error) {
        finish(error as Error);
      }
    });
    // Connected, so that ICMP "port unreachable" comes back as ECONNREFUSED.
    socket.connect(server.port, server.host, () => {
      socket.send(packet, (error) => error && finish(socketError(error, what)));
    });
  });
}

/** RFC 1035 §4.2.2: the same message with a two-octet length in front. */
function overTcp(
  server: DnsServer,
  packet: Uint8Array,
  accept: Accept,
  timeoutMs: number,
  what: string,
): Promise<Message> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    let buffered = new Uint8Array(0);
    let done = false;
    const finish = (error: Error | undefined, reply?: Message) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply as Message);
    };
    const timer = setTimeout(() => finish(dnsError("ETIMEOUT", what)), timeoutMs);
    socket.on("error", (error) => finish(socketError(error, what)));
    socket.on("close", () => finish(dnsError("EBADRESP", `${what} (TCP connection closed)`)));
    socket.on("connect", () => {
      const framed = new Uint8Array(2 + packet.length);
      framed.set([packet.length >> 8, packet.length & 0xff]);
      framed.set(packet, 2);
      socket.write(framed);
    });
    socket.on("data", (chunk: Uint8Array) => {
      const joined = new Uint8Array(buffered.length + chunk.length);
      joined.set(buffered);
      joined.set(chunk, buffered.length);
      buffered = joined;
      if (buffered.length < 2) return;
      const length = (buffered[0] as number) * 256 + (buffered[1] as number);
      if (buffered.length < 2 + length) return;
      try {
        // Over TCP nothing else shares the connection, so a mismatch is an error.
        const reply = accept(buffered.subarray(2, 2 + length));
        finish(reply ? undefined : dnsError("EBADRESP", `${what} (TCP reply mismatch)`), reply);
      } catch (error) {
        finish(error as Error);
      }
    });
  });
}

function socketError(error: Error, what: string): Error {
  const code = (error as { code?: unknown }).code;
  return dnsError(typeof code === "string" ? code : "ECONNREFUSED", what);
}
