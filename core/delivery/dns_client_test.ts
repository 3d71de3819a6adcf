import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startDns } from "../../tests/helpers/dns.ts";
import { createDnsClient, nameserverFromResolvConf, parseDnsServer } from "./dns_client.ts";

// --- A scripted DNS server -------------------------------------------------------------------

const A = 1;
const CNAME = 5;
const MX = 15;
const AAAA = 28;

/** A query as the fake server saw it. */
interface Query {
  id: number;
  name: string;
  type: number;
  flags: number;
  bytes: Uint8Array;
}

/** Answers a query with zero or more packets (zero: silence). */
type Script = (query: Query) => Uint8Array[];

interface FakeDns {
  server: string;
  udp: Query[];
  tcp: Query[];
  close(): Promise<void>;
}

/** UDP (and, with `tcp`, TCP on the same port) on 127.0.0.1, answering from scripts. */
async function fakeDns(udp: Script, tcp?: Script): Promise<FakeDns> {
  for (let attempt = 0;; attempt++) {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    const port = socket.address().port;
    const seen: FakeDns = { server: `127.0.0.1:${port}`, udp: [], tcp: [], close: async () => {} };
    socket.on("message", (bytes, peer) => {
      const query = parseQuery(bytes);
      seen.udp.push(query);
      for (const packet of udp(query)) socket.send(packet, peer.port, peer.address);
    });
    let listener: Server | undefined;
    if (tcp) {
      listener = createServer((conn) => {
        conn.on("data", (chunk: Uint8Array) => {
          // Queries are small: one chunk holds the length and the message.
          const query = parseQuery(chunk.subarray(2));
          seen.tcp.push(query);
          for (const packet of tcp(query)) conn.write(Uint8Array.of(0, packet.length, ...packet));
        });
      });
      const bound = await new Promise<boolean>((resolve) => {
        listener?.once("error", () => resolve(false));
        listener?.listen(port, "127.0.0.1", () => resolve(true));
      });
      if (!bound && attempt < 5) {
        socket.close();
        continue; // The TCP side of this port is taken; try another.
      }
    }
    seen.close = async () => {
      socket.close();
      await new Promise((resolve) => listener ? listener.close(resolve) : resolve(undefined));
    };
    return seen;
  }
}

function parseQuery(bytes: Uint8Array): Query {
  const labels: string[] = [];
  let at = 12;
  while (bytes[at] !== 0) {
    const length = bytes[at] as number;
    labels.push(String.fromCharCode(...bytes.subarray(at + 1, at + 1 + length)));
    at += length + 1;
  }
  const u16 = (i: number) => (bytes[i] as number) * 256 + (bytes[i + 1] as number);
  return { id: u16(0), flags: u16(2), name: labels.join("."), type: u16(at + 1), bytes };
}

/** A name in wire form; `pointer` ends it with a compression pointer instead of the root. */
function name(text: string, pointer?: number): number[] {
  const out: number[] = [];
  for (const label of text === "" ? [] : text.split(".")) {
    out.push(label.length, ...[...label].map((c) => c.charCodeAt(0)));
  }
  return pointer === undefined ? [...out, 0] : [...out, 0xc0 | (pointer >> 8), pointer & 0xff];
}

/** The question's name in every reply starts at offset 12 (RFC 1035 §4.1.4 pointer 0xc00c). */
const QNAME = 12;

/** A resource record of class IN, TTL 60. */
function rr(owner: number[], type: number, data: number[]): number[] {
  return [...owner, 0, type, 0, 1, 0, 0, 0, 60, data.length >> 8, data.length & 0xff, ...data];
}

const a = (text: string) => text.split(".").map(Number);
const mx = (preference: number, exchange: number[]) => [0, preference, ...exchange];

/** A reply to `query`: its id and question, then `answers`. */
function reply(
  query: Query,
  answers: number[][] = [],
  options: { rcode?: number; tc?: boolean; id?: number } = {},
): Uint8Array {
  const packet = Uint8Array.of(...query.bytes, ...answers.flat());
  const id = options.id ?? query.id;
  packet.set([id >> 8, id & 0xff, 0x81 | (options.tc ? 0x02 : 0), 0x80 | (options.rcode ?? 0)]);
  packet.set([0, answers.length], 6);
  return packet;
}

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
    return "no error";
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
}

async function withServer(
  udp: Script,
  run: (dns: ReturnType<typeof createDnsClient>, fake: FakeDns) => Promise<void>,
  tcp?: Script,
): Promise<void> {
  const fake = await fakeDns(udp, tcp);
  try {
    await run(createDnsClient({ server: fake.server, timeoutMs: 150 }), fake);
  } finally {
    await fake.close();
  }
}

// --- Answers ---------------------------------------------------------------------------------

test("resolveMx() reads MX records with compressed names", async () => {
  await withServer((q) => [
    reply(q, [
      rr(name("", QNAME), MX, mx(10, name("mx1", QNAME))),
      rr(name("", QNAME), MX, mx(20, name("mx2.other.test"))),
    ]),
  ], async (dns, fake) => {
    assert.deepEqual(await dns.resolveMx("example.test"), [
      { exchange: "mx1.example.test", priority: 10 },
      { exchange: "mx2.other.test", priority: 20 },
    ]);
    const query = fake.udp[0] as Query;
    assert.equal(query.name, "example.test");
    assert.equal(query.type, MX);
    assert.equal(query.flags, 0x0100, "a standard query with RD set");
  });
});

test("resolveMx() reads a null MX (RFC 7505) as an empty exchange", async () => {
  await withServer((q) => [reply(q, [rr(name("", QNAME), MX, mx(0, name("")))])], async (dns) => {
    assert.deepEqual(await dns.resolveMx("nullmx.test."), [{ exchange: "", priority: 0 }]);
  });
});

test("resolve4() and resolve6() read A and AAAA records", async () => {
  const v6 = (...groups: number[]) => groups.flatMap((g) => [g >> 8, g & 0xff]);
  await withServer(
    (q) =>
      q.type === A
        ? [
          reply(q, [rr(name("", QNAME), A, a("192.0.2.1")), rr(name("", QNAME), A, a("10.0.0.2"))]),
        ]
        : [reply(q, [
          rr(name("", QNAME), AAAA, v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
          rr(name("", QNAME), AAAA, v6(0, 0, 0, 0, 0, 0, 0, 1)),
          rr(name("", QNAME), AAAA, v6(1, 0, 0, 2, 0, 0, 0, 3)),
          rr(name("", QNAME), AAAA, v6(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1)),
          rr(name("", QNAME), AAAA, v6(0, 0, 0, 0, 0, 0, 0, 0)),
        ])],
    async (dns) => {
      assert.deepEqual(await dns.resolve4("host.test"), ["192.0.2.1", "10.0.0.2"]);
      // RFC 5952 §4.2: only the longest run of two or more zero groups is shortened.
      assert.deepEqual(await dns.resolve6("host.test"), [
        "2001:db8::1",
        "::1",
        "1:0:0:2::3",
        "2001:db8:0:1:1:1:1:1",
        "::",
      ]);
    },
  );
});

test("resolve4() follows a CNAME chain inside the answer section", async () => {
  await withServer((q) => [
    reply(q, [
      rr(name("", QNAME), CNAME, name("a.example.test")),
      rr(name("elsewhere.test"), A, a("192.0.2.99")),
      rr(name("A.Example.test"), CNAME, name("b.example.test")),
      rr(name("b.example.test"), A, a("192.0.2.7")),
    ]),
  ], async (dns) => {
    assert.deepEqual(await dns.resolve4("www.example.test"), ["192.0.2.7"]);
  });
});

test("resolveMx() follows a CNAME to the MX records", async () => {
  await withServer((q) => [
    reply(q, [
      rr(name("", QNAME), CNAME, name("real.test")),
      rr(name("real.test"), MX, mx(5, name("mx.real.test"))),
    ]),
  ], async (dns) => {
    assert.deepEqual(await dns.resolveMx("alias.test"), [
      { exchange: "mx.real.test", priority: 5 },
    ]);
  });
});

// --- Failures --------------------------------------------------------------------------------

test("resolve4() maps each RCODE and an empty answer to node:dns codes", async () => {
  const cases: [string, (q: Query) => Uint8Array, string][] = [
    ["NXDOMAIN", (q) => reply(q, [], { rcode: 3 }), "ENOTFOUND"],
    ["NODATA", (q) => reply(q), "ENODATA"],
    ["NODATA, other type", (q) => reply(q, [rr(name("", QNAME), MX, mx(1, name("x")))]), "ENODATA"],
    [
      "CNAME out of the answer",
      (q) => reply(q, [rr(name("", QNAME), CNAME, name("x"))]),
      "ENODATA",
    ],
    ["FORMERR", (q) => reply(q, [], { rcode: 1 }), "EFORMERR"],
    ["SERVFAIL", (q) => reply(q, [], { rcode: 2 }), "ESERVFAIL"],
    ["NOTIMP", (q) => reply(q, [], { rcode: 4 }), "ENOTIMP"],
    ["REFUSED", (q) => reply(q, [], { rcode: 5 }), "EREFUSED"],
    ["RCODE 9", (q) => reply(q, [], { rcode: 9 }), "EBADRESP"],
    ["CNAME loop", (q) => reply(q, [rr(name("", QNAME), CNAME, name("", QNAME))]), "EBADRESP"],
    ["pointer loop", (q) => reply(q, [rr([0xc0, q.bytes.length], A, a("1.2.3.4"))]), "EBADRESP"],
    ["short A", (q) => reply(q, [rr(name("", QNAME), A, [1, 2, 3])]), "EBADRESP"],
  ];
  for (const [label, answer, code] of cases) {
    await withServer((q) => [answer(q)], async (dns) => {
      assert.equal(await codeOf(dns.resolve4("d.test")), code, label);
    });
  }
});

test("resolve4() accepts a FORMERR without the question section", async () => {
  await withServer((q) => {
    const packet = reply(q, [], { rcode: 1 }).subarray(0, 12);
    packet[5] = 0; // QDCOUNT 0
    return [packet];
  }, async (dns) => {
    assert.equal(await codeOf(dns.resolve4("d.test")), "EFORMERR");
  });
});

test("resolveMx() retries a truncated UDP answer over TCP", async () => {
  const answer = (q: Query) => [reply(q, [rr(name("", QNAME), MX, mx(10, name("mx", QNAME)))])];
  await withServer((q) => [reply(q, [], { tc: true })], async (dns, fake) => {
    assert.deepEqual(await dns.resolveMx("big.test"), [{ exchange: "mx.big.test", priority: 10 }]);
    assert.equal(fake.udp.length, 1);
    assert.equal(fake.tcp.length, 1);
    assert.equal((fake.tcp[0] as Query).name, "big.test");
  }, answer);
});

test("resolveMx() reports ECONNREFUSED when the TCP retry finds no server", async () => {
  await withServer((q) => [reply(q, [], { tc: true })], async (dns) => {
    assert.equal(await codeOf(dns.resolveMx("big.test")), "ECONNREFUSED");
  });
});

test("resolve4() ignores replies with a wrong id or another question", async () => {
  await withServer((q) => {
    const other = {
      ...q,
      bytes: Uint8Array.of(...q.bytes.subarray(0, 13), 0x78, ...q.bytes.subarray(14)),
    };
    return [
      reply(q, [rr(name("", QNAME), A, a("6.6.6.6"))], { id: (q.id + 1) & 0xffff }),
      reply(other, [rr(name("", QNAME), A, a("6.6.6.7"))]),
      reply(q, [rr(name("", QNAME), A, a("192.0.2.1"))]),
    ];
  }, async (dns) => {
    assert.deepEqual(await dns.resolve4("spoof.test"), ["192.0.2.1"]);
  });
});

test("resolve4() times out when only spoofed replies come, after one retry", async () => {
  await withServer(
    (q) => [reply(q, [rr(name("", QNAME), A, a("6.6.6.6"))], { id: q.id ^ 1 })],
    async (dns, fake) => {
      assert.equal(await codeOf(dns.resolve4("spoof.test")), "ETIMEOUT");
      assert.equal(fake.udp.length, 2);
    },
  );
});

test("resolve4() gives ETIMEOUT on silence after two tries with fresh ids", async () => {
  await withServer(() => [], async (dns, fake) => {
    const started = Date.now();
    assert.equal(await codeOf(dns.resolve4("quiet.test")), "ETIMEOUT");
    assert.ok(Date.now() - started >= 250, "waited for both tries");
    assert.equal(fake.udp.length, 2);
    assert.notEqual((fake.udp[0] as Query).id, (fake.udp[1] as Query).id);
  });
});

test("resolve4() succeeds when the retry is answered", async () => {
  let count = 0;
  await withServer(
    (q) => ++count === 1 ? [] : [reply(q, [rr(name("", QNAME), A, a("192.0.2.3"))])],
    async (dns) => {
      assert.deepEqual(await dns.resolve4("late.test"), ["192.0.2.3"]);
    },
  );
});

test("resolve4() reports a closed UDP port as a temporary error", async () => {
  const dns = createDnsClient({ server: "127.0.0.1:9", timeoutMs: 100 });
  // Bun reports the ICMP port unreachable; Deno's node:dgram drops it (see dns_client.ts).
  assert.match(String(await codeOf(dns.resolve4("x.test"))), /^(ECONNREFUSED|ETIMEOUT)$/);
});

test("resolve4() rejects a name that cannot be sent", async () => {
  const dns = createDnsClient({ server: "127.0.0.1:9", timeoutMs: 100 });
  for (
    const bad of [`${"x".repeat(64)}.test`, "a..test", "a b.test", `${"abcdefg.".repeat(32)}t`]
  ) {
    assert.equal(await codeOf(dns.resolve4(bad)), "EBADNAME", bad);
  }
});

// --- Configuration ---------------------------------------------------------------------------

test("parseDnsServer() reads IP, IP:PORT and [IPV6]:PORT", () => {
  assert.deepEqual(parseDnsServer("192.0.2.1"), { host: "192.0.2.1", port: 53, family: 4 });
  assert.deepEqual(parseDnsServer("127.0.0.1:5353"), { host: "127.0.0.1", port: 5353, family: 4 });
  assert.deepEqual(parseDnsServer("::1"), { host: "::1", port: 53, family: 6 });
  assert.deepEqual(parseDnsServer("[0:0::1]:54"), { host: "::1", port: 54, family: 6 });
  for (
    const bad of ["dns.test:53", "127.0.0.1:0", "127.0.0.1:99999", "::1:53x", "", "[fe80::1%eth0]"]
  ) {
    assert.throws(() => parseDnsServer(bad), TypeError, bad);
  }
});

test("nameserverFromResolvConf() takes the first usable nameserver", () => {
  const cases: [string, string][] = [
    ["nameserver 10.0.0.1\nnameserver 10.0.0.2\n", "10.0.0.1"],
    ["# nameserver 10.9.9.9\nsearch example\n  nameserver\t2001:db8::53  # v6\n", "2001:db8::53"],
    ["nameserver fe80::1%eth0\nnameserver bogus\nnameserver 192.0.2.53", "192.0.2.53"],
    ["search example\n", "127.0.0.1"],
    ["", "127.0.0.1"],
  ];
  for (const [text, expected] of cases) {
    assert.equal(nameserverFromResolvConf(text), expected, text);
  }
});

test("createDnsClient() uses resolv.conf by default", async () => {
  const dir = await mkdtemp(join(tmpdir(), "postino-dns-"));
  try {
    // Port 53 is fixed by resolv.conf; the TEST-NET address never answers.
    const path = join(dir, "resolv.conf");
    await writeFile(path, "nameserver 192.0.2.53\n");
    const dns = createDnsClient({ resolvConf: path, timeoutMs: 50 });
    assert.match(
      String(await codeOf(dns.resolve4("x.test"))),
      /^E(TIMEOUT|NETUNREACH|HOSTUNREACH)$/,
    );
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("createDnsClient() rejects a malformed server at once", () => {
  assert.throws(() => createDnsClient({ server: "dns.test" }), TypeError);
});

// --- Interoperability ------------------------------------------------------------------------

test("createDnsClient() talks to a real dnsmasq", async () => {
  const real = await startDns([
    "--mx-host=example.test,mx.example.test,10",
    "--host-record=mx.example.test,127.0.0.2,2001:db8::2",
    "--cname=www.example.test,mx.example.test",
    "--host-record=v4only.test,127.0.0.3",
  ]);
  try {
    const dns = createDnsClient({ server: real.server, timeoutMs: 2_000 });
    assert.deepEqual(await dns.resolveMx("example.test"), [
      { exchange: "mx.example.test", priority: 10 },
    ]);
    assert.deepEqual(await dns.resolve4("mx.example.test"), ["127.0.0.2"]);
    assert.deepEqual(await dns.resolve6("MX.Example.Test."), ["2001:db8::2"]);
    assert.deepEqual(await dns.resolve4("www.example.test"), ["127.0.0.2"]);
    assert.equal(await codeOf(dns.resolve4("nosuch.test")), "ENOTFOUND");
    assert.equal(await codeOf(dns.resolve6("v4only.test")), "ENODATA");
  } finally {
    await real.stop();
  }
});
