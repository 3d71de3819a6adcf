import assert from "node:assert/strict";
import { test } from "node:test";
import { startDns } from "../../tests/helpers/dns.ts";
import { createMxResolver, type MxResult } from "./mx.ts";
import { type HostPort, nextHops, parseHostPort, parseTransportMap } from "./routes.ts";

test("parseHostPort() accepts names, IPv4 and bracketed literals", () => {
  const cases: [string, HostPort | undefined][] = [
    ["mx.example.test", { host: "mx.example.test", port: 25 }],
    ["MX.Example.test:2525", { host: "mx.example.test", port: 2525 }],
    ["127.0.0.2:2525", { host: "127.0.0.2", port: 2525 }],
    ["127.0.0.2", { host: "127.0.0.2", port: 25 }],
    ["[127.0.0.3]:25", { host: "127.0.0.3", port: 25 }],
    ["[127.0.0.3]", { host: "127.0.0.3", port: 25 }],
    ["[::1]:2525", { host: "::1", port: 2525 }],
    ["[IPv6:2001:db8::1]:26", { host: "2001:db8::1", port: 26 }],
    ["bücher.test:25", { host: "xn--bcher-kva.test", port: 25 }],
    ["", undefined],
    ["::1:25", undefined],
    ["host:0", undefined],
    ["host:65536", undefined],
    ["host:", undefined],
    ["host:25:26", undefined],
    ["[mx.example.test]:25", undefined],
    ["[127.0.0.3", undefined],
    ["127.0.0.300:25", undefined],
    ["bad_host:25", undefined],
    ["a..b:25", undefined],
    ["host:abc", undefined],
  ];
  for (const [input, expected] of cases) assert.deepEqual(parseHostPort(input), expected, input);
  assert.deepEqual(parseHostPort("relay.test", 587), { host: "relay.test", port: 587 });
});

test("parseTransportMap() normalizes keys and parses every value form", () => {
  const map = parseTransportMap({
    "Example.TEST": "127.0.0.2:2525",
    ".example.test": "[127.0.0.3]:25",
    "bücher.test": "relay.test",
  });
  assert.deepEqual([...map], [
    ["example.test", { host: "127.0.0.2", port: 2525 }],
    [".example.test", { host: "127.0.0.3", port: 25 }],
    ["xn--bcher-kva.test", { host: "relay.test", port: 25 }],
  ]);
});

test("parseTransportMap() throws a TypeError naming the bad key", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ "bad key": "127.0.0.1:25" }, /"bad key"/],
    [{ "": "127.0.0.1:25" }, /""/],
    [{ "..x.test": "127.0.0.1:25" }, /"\.\.x\.test"/],
    [{ "a.test": "127.0.0.1:99999" }, /"a\.test"/],
    [{ "a.test": "" }, /"a\.test"/],
    [{ "a.test": "[a.test]:25" }, /"a\.test"/],
    [{ "a.test": 25 as unknown as string }, /"a\.test".*25/],
    [{ "a.test": "127.0.0.1:25", "A.TEST": "127.0.0.1:26" }, /duplicate.*"A\.TEST"/],
  ];
  for (const [table, message] of cases) {
    assert.throws(() => parseTransportMap(table), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, message);
      return true;
    });
  }
});

/** A resolver that returns `result` and records the domains asked for. */
function fakeResolver(result: MxResult) {
  const asked: string[] = [];
  return {
    asked,
    resolve(domain: string): Promise<MxResult> {
      asked.push(domain);
      return Promise.resolve(result);
    },
  };
}

const MX: MxResult = {
  kind: "hosts",
  implicit: false,
  hosts: [
    { name: "mx0.example.test", preference: 10, addresses: ["127.0.0.3", "::3"] },
    { name: "mx1.example.test", preference: 20, addresses: ["127.0.0.2"] },
  ],
};

test("nextHops() prefers the relay host over transports and MX", async () => {
  const resolver = fakeResolver(MX);
  const route = await nextHops("example.test", {
    relayHost: { host: "smart.test", port: 587 },
    transports: parseTransportMap({ "example.test": "127.0.0.9:2525" }),
    resolver,
  });
  assert.deepEqual(route, {
    kind: "hops",
    hops: [{ host: "smart.test", port: 587, name: "smart.test" }],
  });
  assert.deepEqual(resolver.asked, []);
});

test("nextHops() uses an exact transport, then the nearest parent entry, before MX", async () => {
  const transports = parseTransportMap({
    "example.test": "127.0.0.2:2525",
    ".example.test": "[127.0.0.3]:25",
    ".deep.example.test": "127.0.0.4:26",
  });
  const resolver = fakeResolver(MX);
  const hop = async (domain: string) => {
    const route = await nextHops(domain, { transports, resolver });
    return route.kind === "hops" ? route.hops.map((h) => `${h.host}:${h.port}`) : route.kind;
  };
  assert.deepEqual(await hop("example.test"), ["127.0.0.2:2525"]);
  assert.deepEqual(await hop("EXAMPLE.test."), ["127.0.0.2:2525"]);
  assert.deepEqual(await hop("sub.example.test"), ["127.0.0.3:25"]);
  assert.deepEqual(await hop("a.deep.example.test"), ["127.0.0.4:26"]);
  // ".deep.example.test" matches subdomains only; deep.example.test itself
  // falls back to ".example.test".
  assert.deepEqual(await hop("deep.example.test"), ["127.0.0.3:25"]);
  assert.deepEqual(resolver.asked, []);
  // Not covered: MX.
  assert.deepEqual(await hop("other.test"), ["127.0.0.3:25", "::3:25", "127.0.0.2:25"]);
  assert.deepEqual(resolver.asked, ["other.test"]);
});

test("nextHops() lists every MX address in order, on the default port", async () => {
  const route = await nextHops("example.test", {
    transports: new Map(),
    resolver: fakeResolver(MX),
    defaultPort: 2525,
  });
  assert.deepEqual(route, {
    kind: "hops",
    hops: [
      { host: "127.0.0.3", port: 2525, name: "mx0.example.test" },
      { host: "::3", port: 2525, name: "mx0.example.test" },
      { host: "127.0.0.2", port: 2525, name: "mx1.example.test" },
    ],
  });
});

test("nextHops() maps null MX, nodomain and temperror", async () => {
  const route = (result: MxResult) =>
    nextHops("x.test", { transports: new Map(), resolver: fakeResolver(result) });
  assert.deepEqual(await route({ kind: "nullmx" }), {
    kind: "permanent",
    code: 556,
    enhanced: "5.1.10",
    text: "Recipient address has null MX",
  });
  assert.deepEqual(await route({ kind: "nodomain" }), {
    kind: "permanent",
    code: 550,
    enhanced: "5.1.2",
    text: "Bad destination system address",
  });
  assert.deepEqual(await route({ kind: "temperror", reason: "MX x.test: ETIMEOUT" }), {
    kind: "temporary",
    text: "DNS lookup for x.test failed: MX x.test: ETIMEOUT",
  });
});

test("nextHops() routes through a real DNS server end to end", async () => {
  const dns = await startDns([
    "--mx-host=example.test,mx.example.test,10",
    "--host-record=mx.example.test,127.0.0.2",
    "--mx-host=nullmx.test,.,0",
  ]);
  try {
    const options = {
      transports: new Map<string, HostPort>(),
      resolver: createMxResolver({ server: dns.server, timeoutMs: 2_000 }),
      defaultPort: 2525,
    };
    assert.deepEqual(await nextHops("example.test", options), {
      kind: "hops",
      hops: [{ host: "127.0.0.2", port: 2525, name: "mx.example.test" }],
    });
    assert.equal((await nextHops("nullmx.test", options)).kind, "permanent");
    assert.deepEqual(await nextHops("nosuch.test", options), {
      kind: "permanent",
      code: 550,
      enhanced: "5.1.2",
      text: "Bad destination system address",
    });
  } finally {
    await dns.stop();
  }
});
