import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { after, before, test } from "node:test";
import { type RunningDns, startDns } from "../../tests/helpers/dns.ts";
import { createMxResolver, type DnsLookup, MAX_MX_HOSTS, type MxResult } from "./mx.ts";

let dns: RunningDns;

before(async () => {
  dns = await startDns([
    "--mx-host=example.test,mx1.example.test,20",
    "--mx-host=example.test,mx0.example.test,10",
    "--host-record=mx0.example.test,127.0.0.3,::3",
    "--host-record=mx1.example.test,127.0.0.2",
    "--mx-host=equal.test,a.equal.test,10",
    "--mx-host=equal.test,b.equal.test,10",
    "--mx-host=equal.test,c.equal.test,10",
    "--mx-host=equal.test,d.equal.test,20",
    "--host-record=a.equal.test,127.0.1.1",
    "--host-record=b.equal.test,127.0.1.2",
    "--host-record=c.equal.test,127.0.1.3",
    "--host-record=d.equal.test,127.0.1.4",
    "--mx-host=nullmx.test,.,0",
    "--host-record=nomx.test,127.0.0.4",
    "--host-record=v6only.test,::6",
    "--mx-host=dangling.test,gone.test,10",
    "--mx-host=partial.test,gone.test,10",
    "--mx-host=partial.test,mx1.example.test,20",
    "--host-record=xn--bcher-kva.test,127.0.0.5",
  ]);
});

after(async () => {
  await dns.stop();
});

const resolver = (random?: () => number) =>
  createMxResolver({ server: dns.server, timeoutMs: 2_000, ...(random ? { random } : {}) });

const names = (result: MxResult) =>
  result.kind === "hosts" ? result.hosts.map((h) => `${h.preference} ${h.name}`) : result.kind;

test("resolve() orders two MX records by preference and resolves their A and AAAA", async () => {
  const result = await resolver().resolve("example.test");
  assert.deepEqual(result, {
    kind: "hosts",
    implicit: false,
    hosts: [
      { name: "mx0.example.test", preference: 10, addresses: ["127.0.0.3", "::3"] },
      { name: "mx1.example.test", preference: 20, addresses: ["127.0.0.2"] },
    ],
  });
});

test("resolve() ignores case and a trailing dot", async () => {
  assert.deepEqual(names(await resolver().resolve("Example.TEST.")), [
    "10 mx0.example.test",
    "20 mx1.example.test",
  ]);
});

test("resolve() shuffles equal preferences but keeps preference order", async () => {
  const firsts = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const order = names(await resolver().resolve("equal.test")) as string[];
    assert.deepEqual([...order.slice(0, 3)].sort(), [
      "10 a.equal.test",
      "10 b.equal.test",
      "10 c.equal.test",
    ]);
    assert.equal(order[3], "20 d.equal.test");
    firsts.add(order[0] as string);
  }
  assert.ok(firsts.size > 1, "30 lookups always put the same host first");
});

test("resolve() shuffles with the injected random source", async () => {
  const low = names(await resolver(() => 0).resolve("equal.test"));
  const high = names(await resolver(() => 0.999).resolve("equal.test"));
  assert.deepEqual(names(await resolver(() => 0).resolve("equal.test")), low);
  assert.notDeepEqual(low, high);
});

test("resolve() uses the implicit MX only when there is no MX record (A only)", async () => {
  assert.deepEqual(await resolver().resolve("nomx.test"), {
    kind: "hosts",
    implicit: true,
    hosts: [{ name: "nomx.test", preference: 0, addresses: ["127.0.0.4"] }],
  });
});

test("resolve() finds an implicit MX with only an AAAA record", async () => {
  assert.deepEqual(await resolver().resolve("v6only.test"), {
    kind: "hosts",
    implicit: true,
    hosts: [{ name: "v6only.test", preference: 0, addresses: ["::6"] }],
  });
});

test("resolve() reports the RFC 7505 null MX", async () => {
  assert.deepEqual(await resolver().resolve("nullmx.test"), { kind: "nullmx" });
});

test("resolve() reports NXDOMAIN as nodomain", async () => {
  assert.deepEqual(await resolver().resolve("nosuch.test"), { kind: "nodomain" });
});

test("resolve() defers when no MX target has an address", async () => {
  const result = await resolver().resolve("dangling.test");
  assert.equal(result.kind, "temperror");
  assert.match((result as { reason: string }).reason, /gone\.test/);
});

test("resolve() skips an MX target without an address and keeps the others", async () => {
  assert.deepEqual(names(await resolver().resolve("partial.test")), ["20 mx1.example.test"]);
});

test("resolve() turns an IDN into punycode before the lookup", async () => {
  assert.deepEqual(await resolver().resolve("BÜCHER.test"), {
    kind: "hosts",
    implicit: true,
    hosts: [{ name: "xn--bcher-kva.test", preference: 0, addresses: ["127.0.0.5"] }],
  });
});

test("resolve() answers address literals without DNS", async () => {
  // A resolver pointed at nothing: any query would time out.
  const offline = createMxResolver({ server: "127.0.0.1:9", timeoutMs: 100 });
  assert.deepEqual(await offline.resolve("[192.0.2.1]"), {
    kind: "hosts",
    implicit: false,
    hosts: [{ name: "192.0.2.1", preference: 0, addresses: ["192.0.2.1"] }],
  });
  assert.deepEqual(names(await offline.resolve("[IPv6:2001:db8::1]")), ["0 2001:db8::1"]);
  assert.deepEqual(await offline.resolve("[300.1.1.1]"), { kind: "nodomain" });
});

test("resolve() reports names that cannot exist as nodomain", async () => {
  const offline = createMxResolver({ server: "127.0.0.1:9", timeoutMs: 100 });
  for (const bad of ["", "a..test", "-a.test", "a b.test", `${"x".repeat(64)}.test`]) {
    assert.deepEqual(await offline.resolve(bad), { kind: "nodomain" }, bad);
  }
});

test("resolve() gives temperror when the DNS server does not answer", async () => {
  const closed = createMxResolver({ server: "127.0.0.1:9", timeoutMs: 200 });
  const result = await closed.resolve("example.test");
  assert.equal(result.kind, "temperror");
  assert.match((result as { reason: string }).reason, /^MX example\.test: E/);
});

test("resolve() gives temperror on SERVFAIL", async () => {
  const server = await servfailServer();
  try {
    const port = (server.address() as { port: number }).port;
    const result = await createMxResolver({ server: `127.0.0.1:${port}`, timeoutMs: 1_000 })
      .resolve("example.test");
    assert.deepEqual(result, { kind: "temperror", reason: "MX example.test: ESERVFAIL" });
  } finally {
    server.close();
  }
});

test("createMxResolver() rejects a malformed --dns-server value", () => {
  for (const bad of ["dns.test:53", "127.0.0.1:0", "127.0.0.1:99999", "::1:53x", ""]) {
    assert.throws(() => createMxResolver({ server: bad }), TypeError, bad);
  }
  createMxResolver({ server: "[::1]:5353" });
  createMxResolver({ server: "::1" });
  createMxResolver({ server: "127.0.0.1" });
});

/** A scripted DnsLookup: names map to records, or to an error code to throw. */
function fakeDns(table: Record<string, unknown>): DnsLookup {
  const answer = <T>(key: string): Promise<T> => {
    const value = table[key];
    if (value === undefined) {
      return Promise.reject(Object.assign(new Error(key), { code: "ENOTFOUND" }));
    }
    if (typeof value === "string") {
      return Promise.reject(Object.assign(new Error(key), { code: value }));
    }
    return Promise.resolve(value as T);
  };
  return {
    resolveMx: (name) => answer(`MX ${name}`),
    resolve4: (name) => answer(`A ${name}`),
    resolve6: (name) => answer(`AAAA ${name}`),
  };
}

test("resolve() keeps at most MAX_MX_HOSTS hosts", async () => {
  const table: Record<string, unknown> = { "MX big.test": [] };
  const mx: { exchange: string; priority: number }[] = [];
  for (let i = 0; i < 15; i++) {
    mx.push({ exchange: `mx${i}.big.test`, priority: i });
    table[`A mx${i}.big.test`] = [`192.0.2.${i}`];
  }
  table["MX big.test"] = mx;
  const result = await createMxResolver({ dns: fakeDns(table) }).resolve("big.test");
  assert.equal((names(result) as string[]).length, MAX_MX_HOSTS);
  assert.equal((names(result) as string[])[0], "0 mx0.big.test");
});

test("resolve() maps each DNS failure to the right outcome", async () => {
  const cases: [Record<string, unknown>, MxResult | string][] = [
    [{ "MX d.test": "ESERVFAIL" }, { kind: "temperror", reason: "MX d.test: ESERVFAIL" }],
    [{ "MX d.test": "ETIMEOUT" }, { kind: "temperror", reason: "MX d.test: ETIMEOUT" }],
    [{ "MX d.test": "ECONNREFUSED" }, { kind: "temperror", reason: "MX d.test: ECONNREFUSED" }],
    [{ "MX d.test": "EREFUSED" }, { kind: "temperror", reason: "MX d.test: EREFUSED" }],
    [{ "MX d.test": "ENODATA" }, { kind: "nodomain" }],
    [{ "MX d.test": [] }, { kind: "nodomain" }],
    // The implicit MX: an A lookup that fails must not become a bounce.
    [{ "A d.test": "ETIMEOUT" }, { kind: "temperror", reason: "A d.test: ETIMEOUT" }],
    [{ "A d.test": ["192.0.2.1"], "AAAA d.test": "ETIMEOUT" }, "0 d.test"],
    // Several null MX records, or one written with the trailing dot.
    [{ "MX d.test": [{ exchange: ".", priority: 0 }] }, { kind: "nullmx" }],
    // A broken zone mixing null MX and a real MX: the real one is used.
    [
      {
        "MX d.test": [{ exchange: "", priority: 0 }, { exchange: "mx.d.test", priority: 5 }],
        "A mx.d.test": ["192.0.2.2"],
      },
      "5 mx.d.test",
    ],
    // An MX target whose lookup fails: its error is the reason.
    [
      { "MX d.test": [{ exchange: "mx.d.test", priority: 5 }], "A mx.d.test": "ESERVFAIL" },
      { kind: "temperror", reason: "A mx.d.test: ESERVFAIL" },
    ],
  ];
  for (const [table, expected] of cases) {
    const result = await createMxResolver({ dns: fakeDns(table) }).resolve("d.test");
    if (typeof expected === "string") {
      assert.deepEqual(names(result), [expected], JSON.stringify(table));
    } else assert.deepEqual(result, expected, JSON.stringify(table));
  }
});

/** A DNS server on a free UDP port that answers every query with SERVFAIL. */
async function servfailServer(): Promise<Socket> {
  const socket = createSocket("udp4");
  socket.on("message", (query, peer) => {
    const reply = Uint8Array.from(query);
    reply[2] = 0x81; // QR, RD
    reply[3] = 0x82; // RA, RCODE 2 (SERVFAIL)
    socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return socket;
}
