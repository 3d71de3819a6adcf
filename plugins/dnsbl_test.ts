import assert from "node:assert/strict";
import { test } from "node:test";
import type { HookContext } from "../core/hooks/plugin.ts";
import { dnsbl, dnsblFromHost, dnsblSettings, reverseAddress } from "./dnsbl.ts";

type Logged = { level: "info" | "warn"; message: string; fields: Record<string, unknown> };

function context(address: string): { ctx: HookContext; logged: Logged[] } {
  const logged: Logged[] = [];
  const ctx = {
    connection: { remote: { address, port: 40000 }, local: { address: "192.0.2.25", port: 25 } },
    log: {
      info: (message: string, fields = {}) => logged.push({ level: "info", message, fields }),
      warn: (message: string, fields = {}) => logged.push({ level: "warn", message, fields }),
    },
  } as unknown as HookContext;
  return { ctx, logged };
}

const dnsError = (code: string) => Object.assign(new Error(`query: ${code}`), { code });

/** A fake resolver: names map to answers, or to an error code. */
function fakeLookup(table: Record<string, string[] | string>) {
  const asked: string[] = [];
  const lookup = (name: string): Promise<string[]> => {
    asked.push(name);
    const entry = table[name];
    if (entry === undefined) return Promise.reject(dnsError("ENOTFOUND"));
    return typeof entry === "string" ? Promise.reject(dnsError(entry)) : Promise.resolve(entry);
  };
  return { asked, lookup };
}

test("reverseAddress() reverses IPv4 octets and IPv6 nibbles (RFC 5782 §2.1, §2.4)", () => {
  const cases: [string, string | undefined][] = [
    ["192.0.2.99", "99.2.0.192"],
    ["127.0.0.2", "2.0.0.127"],
    ["::ffff:192.0.2.99", "99.2.0.192"],
    [
      "2001:db8:1:2:3:4:567:89ab",
      "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2",
    ],
    ["2001:DB8::1", `1.${"0.".repeat(23)}8.b.d.0.1.0.0.2`],
    ["::1", `1.${"0.".repeat(30)}0`],
    ["::", Array(32).fill("0").join(".")],
    ["fe80::1%eth0", undefined],
    ["mx.example", undefined],
    ["", undefined],
  ];
  for (const [address, want] of cases) assert.equal(reverseAddress(address), want, address);
});

test("dnsbl() refuses a listed client with 554 5.7.1 naming the zone", async () => {
  const { asked, lookup } = fakeLookup({ "99.2.0.192.bl.example": ["127.0.0.2"] });
  const { ctx, logged } = context("192.0.2.99");
  const decision = await dnsbl({ zones: ["bl.example"], lookup }).connect?.(ctx);
  assert.deepEqual(asked, ["99.2.0.192.bl.example"]);
  assert.equal(decision?.kind, "reject");
  assert.deepEqual(decision?.reply, {
    code: 554,
    enhanced: "5.7.1",
    lines: ["Service unavailable; client [192.0.2.99] blocked using bl.example"],
  });
  assert.deepEqual(logged.map((l) => [l.level, l.fields.zone]), [["info", "bl.example"]]);
});

test("dnsbl() passes a client that no zone lists (NXDOMAIN, no A record)", async () => {
  const { asked, lookup } = fakeLookup({ "99.2.0.192.nodata.example": "ENODATA" });
  const { ctx, logged } = context("192.0.2.99");
  const plugin = dnsbl({ zones: ["bl.example", "nodata.example"], lookup });
  assert.equal(await plugin.connect?.(ctx), undefined);
  assert.deepEqual(asked, ["99.2.0.192.bl.example", "99.2.0.192.nodata.example"]);
  assert.deepEqual(logged, []);
});

test("dnsbl() fails open on lookup errors and timeouts, with a warning", async () => {
  const { lookup } = fakeLookup({ "99.2.0.192.broken.example": "ESERVFAIL" });
  const hanging = () => new Promise<string[]>(() => {});
  for (
    const plugin of [
      dnsbl({ zones: ["broken.example"], lookup }),
      dnsbl({ zones: ["slow.example"], lookup: hanging, timeoutMs: 20 }),
    ]
  ) {
    const { ctx, logged } = context("192.0.2.99");
    assert.equal(await plugin.connect?.(ctx), undefined);
    assert.equal(logged.length, 1);
    assert.equal(logged[0]?.level, "warn");
    assert.match(String(logged[0]?.fields.error), /ESERVFAIL|timed out/);
    assert.equal(logged[0]?.fields.client, "192.0.2.99");
  }
});

test("dnsbl() ignores error codes and rewritten NXDOMAINs, with a warning", async () => {
  const { lookup } = fakeLookup({
    "99.2.0.192.refused.example": ["127.255.255.254"],
    "99.2.0.192.hijacked.example": ["198.51.100.7"],
  });
  const { ctx, logged } = context("192.0.2.99");
  const plugin = dnsbl({ zones: ["refused.example", "hijacked.example"], lookup });
  assert.equal(await plugin.connect?.(ctx), undefined);
  assert.deepEqual(logged.map((l) => [l.level, l.fields.answer]), [
    ["warn", "127.255.255.254"],
    ["warn", "198.51.100.7"],
  ]);
});

test("dnsbl() asks every zone at once and names the first listing zone in config order", async () => {
  let pending = 0;
  let most = 0;
  const lookup = async (name: string) => {
    pending++;
    most = Math.max(most, pending);
    // The second zone answers first.
    await new Promise((r) => setTimeout(r, name.endsWith("one.example") ? 30 : 1));
    pending--;
    return ["127.0.0.4"];
  };
  const { ctx } = context("192.0.2.99");
  const plugin = dnsbl({ zones: ["one.example", "two.example", "three.example"], lookup });
  const decision = await plugin.connect?.(ctx);
  assert.equal(most, 3);
  assert.match(decision?.reply?.lines[0] ?? "", /blocked using one\.example$/);
});

test("dnsbl() looks IPv6 clients up by nibbles and IPv4-mapped clients as IPv4", async () => {
  const v6 = `1.${"0.".repeat(23)}8.b.d.0.1.0.0.2.bl.example`;
  const { asked, lookup } = fakeLookup({ [v6]: ["127.0.0.2"], "7.2.0.192.bl.example": [] });
  const plugin = dnsbl({ zones: ["bl.example"], lookup });
  const listed = await plugin.connect?.(context("2001:db8::1").ctx);
  assert.match(listed?.reply?.lines[0] ?? "", /client \[2001:db8::1\]/);
  assert.equal(await plugin.connect?.(context("::ffff:192.0.2.7").ctx), undefined);
  assert.deepEqual(asked, [v6, "7.2.0.192.bl.example"]);
});

test("dnsbl() never looks up clients in the allow list; the default list is empty", async () => {
  const { asked, lookup } = fakeLookup({});
  const allowing = dnsbl({ zones: ["bl.example"], lookup, allow: ["192.0.2.0/24", "::1"] });
  assert.equal(await allowing.connect?.(context("192.0.2.99").ctx), undefined);
  assert.equal(await allowing.connect?.(context("::ffff:192.0.2.98").ctx), undefined);
  assert.equal(await allowing.connect?.(context("::1").ctx), undefined);
  assert.deepEqual(asked, []);
  await dnsbl({ zones: ["bl.example"], lookup }).connect?.(context("127.0.0.1").ctx);
  assert.deepEqual(asked, ["1.0.0.127.bl.example"]);
});

test("dnsbl() throws a TypeError for bad options", () => {
  const lookup = () => Promise.resolve([]);
  assert.throws(() => dnsbl({ zones: [], lookup }), TypeError);
  assert.throws(() => dnsbl({ zones: ["bad zone"], lookup }), TypeError);
  assert.throws(() => dnsbl({ zones: ["[127.0.0.1]"], lookup }), TypeError);
  for (const network of ["10.0.0.0/33", "::/129", "example.org/8", "10.0.0.0/8/8", "10/8"]) {
    assert.throws(() => dnsbl({ zones: ["bl.example"], lookup, allow: [network] }), TypeError);
  }
  assert.equal(dnsbl({ zones: ["BL.example."], lookup }).name, "dnsbl");
});

test("dnsblSettings() validates the [plugin.dnsbl] table", () => {
  assert.deepEqual(dnsblSettings({ zones: ["bl.example"] }), {
    zones: ["bl.example"],
    dnsServer: undefined,
    allow: [],
    timeoutMs: 5_000,
  });
  assert.deepEqual(
    dnsblSettings({
      zones: ["a.example", "b.example"],
      dns_server: "127.0.0.1:5353",
      allow: ["10.0.0.0/8"],
      timeout: 1.5,
    }),
    {
      zones: ["a.example", "b.example"],
      dnsServer: "127.0.0.1:5353",
      allow: ["10.0.0.0/8"],
      timeoutMs: 1_500,
    },
  );
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /zones must list/],
    [{ zones: [] }, /zones must list/],
    [{ zones: "bl.example" }, /zones must be an array of strings/],
    [{ zones: [1] }, /zones must be an array of strings/],
    [{ zones: ["bl.example"], zone: "x" }, /unknown option "zone"/],
    [{ zones: ["bl.example"], dns_server: 53 }, /dns_server must be a string/],
    [{ zones: ["bl.example"], dns_server: "dns.example" }, /invalid DNS server/],
    [{ zones: ["bl.example"], allow: "10.0.0.0/8" }, /allow must be an array/],
    [{ zones: ["bl.example"], timeout: 0 }, /timeout must be/],
    [{ zones: ["bl.example"], timeout: "5" }, /timeout must be/],
  ];
  for (const [raw, message] of bad) {
    assert.throws(() => dnsblSettings(raw), message, JSON.stringify(raw));
  }
});

test("dnsblFromHost() builds the plugin from its options and refuses bad ones", () => {
  const plugin = dnsblFromHost({ options: { zones: ["bl.example"], dns_server: "127.0.0.1" } });
  assert.equal(plugin.name, "dnsbl");
  assert.throws(() => dnsblFromHost({ options: { zones: ["bl.example"], allow: ["x"] } }));
});
