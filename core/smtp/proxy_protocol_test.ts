import assert from "node:assert/strict";
import { test } from "node:test";
import {
  MAX_V1_LENGTH,
  MAX_V2_LENGTH,
  parseProxyHeader,
  type ProxyResult,
} from "./proxy_protocol.ts";

const text = (s: string) => new TextEncoder().encode(s);
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A v2 header: signature, version/command, family/protocol, length, body. */
function v2(versionCommand: number, familyProtocol: number, body: number[], length?: number) {
  const size = length ?? body.length;
  return new Uint8Array([
    ...SIGNATURE,
    versionCommand,
    familyProtocol,
    size >> 8,
    size & 0xff,
    ...body,
  ]);
}

const port = (p: number) => [p >> 8, p & 0xff];
const INET_BODY = [192, 0, 2, 1, 198, 51, 100, 2, ...port(4321), ...port(25)];
const IPV6_SRC = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1];
const IPV6_DST = [...Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 7];
const INET6_BODY = [...IPV6_SRC, ...IPV6_DST, ...port(50000), ...port(587)];

const SRC4 = { address: "192.0.2.1", port: 4321 };
const DST4 = { address: "198.51.100.2", port: 25 };

const VALID: { name: string; bytes: Uint8Array; want: ProxyResult }[] = [
  {
    name: "v1 TCP4",
    bytes: text("PROXY TCP4 192.0.2.1 198.51.100.2 4321 25\r\n"),
    want: { kind: "ok", consumed: 43, source: SRC4, destination: DST4 },
  },
  {
    name: "v1 TCP6, canonicalised",
    bytes: text("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:c000:207 65535 0\r\n"),
    want: {
      kind: "ok",
      consumed: 57,
      source: { address: "2001:db8::1", port: 65535 },
      destination: { address: "::ffff:192.0.2.7", port: 0 },
    },
  },
  { name: "v1 UNKNOWN", bytes: text("PROXY UNKNOWN\r\n"), want: { kind: "ok", consumed: 15 } },
  {
    name: "v1 UNKNOWN with ignored fields",
    bytes: text("PROXY UNKNOWN ffff:: ffff:: 1 2\r\n"),
    want: { kind: "ok", consumed: 33 },
  },
  {
    name: "v1 at the 107-byte limit",
    bytes: text(`PROXY UNKNOWN ${"x".repeat(MAX_V1_LENGTH - 16)}\r\n`),
    want: { kind: "ok", consumed: MAX_V1_LENGTH },
  },
  {
    name: "v2 PROXY TCP4",
    bytes: v2(0x21, 0x11, INET_BODY),
    want: { kind: "ok", consumed: 28, source: SRC4, destination: DST4 },
  },
  {
    name: "v2 PROXY TCP6",
    bytes: v2(0x21, 0x21, INET6_BODY),
    want: {
      kind: "ok",
      consumed: 52,
      source: { address: "2001:db8::1", port: 50000 },
      destination: { address: "::ffff:192.0.2.7", port: 587 },
    },
  },
  {
    name: "v2 PROXY TCP4 with TLVs (ignored)",
    bytes: v2(0x21, 0x11, [...INET_BODY, 0x01, 0x00, 0x02, 0x68, 0x32, 0x04, 0x00, 0x00]),
    want: { kind: "ok", consumed: 36, source: SRC4, destination: DST4 },
  },
  { name: "v2 LOCAL", bytes: v2(0x20, 0x00, []), want: { kind: "ok", consumed: 16 } },
  {
    name: "v2 LOCAL ignores the family and its addresses",
    bytes: v2(0x20, 0xff, INET_BODY),
    want: { kind: "ok", consumed: 28 },
  },
  { name: "v2 PROXY UNSPEC", bytes: v2(0x21, 0x00, []), want: { kind: "ok", consumed: 16 } },
  {
    name: "v2 PROXY UNIX (no IP to use)",
    bytes: v2(0x21, 0x31, Array(216).fill(0x61)),
    want: { kind: "ok", consumed: 232 },
  },
];

test("parseProxyHeader() parses valid v1 and v2 headers", () => {
  for (const { name, bytes, want } of VALID) {
    assert.deepEqual(parseProxyHeader(bytes), want, name);
  }
});

test("parseProxyHeader() leaves the bytes after the header unconsumed", () => {
  const trailer = text("EHLO client.example\r\n");
  for (const { name, bytes, want } of VALID) {
    const joined = new Uint8Array([...bytes, ...trailer]);
    assert.deepEqual(parseProxyHeader(joined), want, name);
  }
});

test("parseProxyHeader() says incomplete at every split point, then ok", () => {
  for (const { name, bytes, want } of VALID) {
    for (let cut = 0; cut < bytes.length; cut++) {
      assert.deepEqual(parseProxyHeader(bytes.subarray(0, cut)), { kind: "incomplete" }, name);
    }
    assert.deepEqual(parseProxyHeader(bytes), want, name);
  }
});

const v1 = (line: string) => text(line);
const MALFORMED: { name: string; bytes: Uint8Array }[] = [
  { name: "no header: SMTP", bytes: text("EHLO client.example\r\n") },
  { name: "no header: HTTP", bytes: text("GET / HTTP/1.1\r\n") },
  { name: "no header: one byte", bytes: new Uint8Array([0]) },
  { name: "lower case", bytes: v1("proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n") },
  { name: "PROXY without space", bytes: v1("PROXY\r\n") },
  { name: "empty protocol", bytes: v1("PROXY \r\n") },
  { name: "unknown protocol", bytes: v1("PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n") },
  { name: "missing port", bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n") },
  { name: "extra field", bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n") },
  { name: "double space", bytes: v1("PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n") },
  { name: "trailing space", bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n") },
  { name: "IPv6 in TCP4", bytes: v1("PROXY TCP4 ::1 ::1 1 2\r\n") },
  { name: "IPv4 in TCP6", bytes: v1("PROXY TCP6 192.0.2.1 198.51.100.2 1 2\r\n") },
  { name: "zone id", bytes: v1("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n") },
  { name: "leading-zero octet", bytes: v1("PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n") },
  { name: "octet over 255", bytes: v1("PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n") },
  { name: "host name", bytes: v1("PROXY TCP4 localhost 198.51.100.2 1 2\r\n") },
  { name: "port over 65535", bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n") },
  { name: "leading-zero port", bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n") },
  { name: "negative port", bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n") },
  { name: "bare LF", bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n") },
  { name: "bare CR", bytes: v1("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\rX") },
  { name: "NUL byte", bytes: v1("PROXY TCP4\x00192.0.2.1") },
  { name: "non-ASCII byte", bytes: new Uint8Array([...text("PROXY TCP4 "), 0xc3, 0xa9]) },
  { name: "v1 over 107 bytes", bytes: v1(`PROXY UNKNOWN ${"x".repeat(MAX_V1_LENGTH - 15)}\r\n`) },
  { name: "v1 without CRLF", bytes: v1(`PROXY UNKNOWN ${"x".repeat(200)}`) },
  { name: "v2 bad signature", bytes: new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x01]) },
  { name: "v2 version 1", bytes: v2(0x11, 0x11, INET_BODY) },
  { name: "v2 version 3", bytes: v2(0x31, 0x11, INET_BODY) },
  { name: "v2 unknown command", bytes: v2(0x22, 0x11, INET_BODY) },
  { name: "v2 unknown family", bytes: v2(0x21, 0x41, INET_BODY) },
  { name: "v2 unknown protocol", bytes: v2(0x21, 0x13, INET_BODY) },
  { name: "v2 UDP over IPv4", bytes: v2(0x21, 0x12, INET_BODY) },
  { name: "v2 unspecified protocol over IPv6", bytes: v2(0x21, 0x20, INET6_BODY) },
  { name: "v2 INET body too short", bytes: v2(0x21, 0x11, INET_BODY.slice(0, 11)) },
  { name: "v2 INET6 body too short", bytes: v2(0x21, 0x21, INET6_BODY.slice(0, 35)) },
  { name: "v2 UNIX body too short", bytes: v2(0x21, 0x31, Array(215).fill(0)) },
  { name: "v2 length over the cap", bytes: v2(0x21, 0x11, [], MAX_V2_LENGTH - 15) },
];

test("parseProxyHeader() refuses malformed headers and a missing one", () => {
  for (const { name, bytes } of MALFORMED) {
    const result = parseProxyHeader(bytes);
    assert.equal(result.kind, "invalid", `${name}: ${JSON.stringify(result)}`);
  }
});

test("parseProxyHeader() refuses garbage as soon as it arrives, without waiting for more", () => {
  assert.equal(parseProxyHeader(text("E")).kind, "invalid");
  assert.equal(parseProxyHeader(text("PROXX")).kind, "invalid");
  assert.equal(parseProxyHeader(text("PROXY TCP4 1\x00")).kind, "invalid");
  assert.equal(parseProxyHeader(new Uint8Array([0x0d, 0x0b])).kind, "invalid");
  assert.equal(parseProxyHeader(v2(0x21, 0x11, [], 0xffff).subarray(0, 16)).kind, "invalid");
  assert.equal(parseProxyHeader(v2(0x21, 0x11, [], 4).subarray(0, 16)).kind, "invalid");
});

test("parseProxyHeader() accepts the largest v2 header", () => {
  const bytes = v2(0x21, 0x11, [...INET_BODY, ...Array(MAX_V2_LENGTH - 28).fill(0)]);
  assert.deepEqual(parseProxyHeader(bytes), {
    kind: "ok",
    consumed: MAX_V2_LENGTH,
    source: SRC4,
    destination: DST4,
  });
});

/** mulberry32: a small seeded PRNG, so a failure replays. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("parseProxyHeader() never throws on random bytes, and its answers are final", () => {
  const random = prng(0x9e3779b9);
  const int = (n: number) => Math.floor(random() * n);
  const bytes = (n: number) => Array.from({ length: n }, () => int(256));
  const starts = [[], [...text("PROXY ")], SIGNATURE, [...SIGNATURE, 0x21, 0x11, 0, 12]];
  for (let i = 0; i < 3000; i++) {
    let buf: Uint8Array;
    if (i % 3 === 2) {
      // A valid header with a few bytes changed.
      const base = VALID[int(VALID.length)]?.bytes ?? new Uint8Array();
      buf = base.slice();
      for (let flips = 1 + int(3); flips > 0; flips--) buf[int(buf.length)] = int(256);
    } else {
      buf = new Uint8Array([...(starts[int(starts.length)] ?? []), ...bytes(int(600))]);
    }
    const seed = `case ${i}: ${JSON.stringify(Array.from(buf.subarray(0, 40)))}`;
    const result = parseProxyHeader(buf);
    const more = new Uint8Array([...buf, ...bytes(1 + int(40))]);
    if (result.kind === "ok") {
      assert.ok(result.consumed > 0 && result.consumed <= buf.length, seed);
      assert.deepEqual(parseProxyHeader(buf.subarray(0, result.consumed)), result, seed);
      assert.deepEqual(parseProxyHeader(more), result, seed);
    } else if (result.kind === "invalid") {
      assert.equal(typeof result.reason, "string", seed);
      assert.equal(parseProxyHeader(more).kind, "invalid", seed);
    } else {
      assert.equal(result.kind, "incomplete", seed);
      assert.ok(buf.length < MAX_V2_LENGTH, seed);
    }
  }
});
