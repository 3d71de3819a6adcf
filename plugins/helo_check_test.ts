import assert from "node:assert/strict";
import { test } from "node:test";
import type { HookContext } from "../core/hooks/plugin.ts";
import { heloCheck, heloCheckFromHost } from "./helo_check.ts";

function context(remote: string, local = "192.0.2.25"): HookContext {
  return {
    connection: { remote: { address: remote, port: 40000 }, local: { address: local, port: 25 } },
  } as unknown as HookContext;
}

const OPTIONS = {
  hostname: "mx.example.org",
  domains: ["example.org", "example.net"],
  localAddresses: ["203.0.113.25", "2001:db8::25"],
};

/** [HELO name, expected reply ("" = passes), client address, local address] */
type Case = [string, string, string?, string?];

async function check(plugin: ReturnType<typeof heloCheck>, cases: Case[]): Promise<void> {
  for (const [name, want, remote = "198.51.100.9", local] of cases) {
    const decision = await plugin.helo?.(context(remote, local), { verb: "EHLO", name });
    const got = decision
      ? `${decision.reply?.code} ${decision.reply?.enhanced} ${decision.reply?.lines.join(" ")}`
      : "";
    if (want === "") assert.equal(got, "", `${name} from ${remote}`);
    else {assert.ok(
        got.startsWith(want),
        `${name} from ${remote}: expected "${want}", got "${got}"`,
      );}
  }
}

test("heloCheck() accepts host names and address literals that are not ours", async () => {
  await check(heloCheck(OPTIONS), [
    ["client.example.com", ""],
    ["Client.Example.COM.", ""],
    ["a-b.c0.example", ""],
    ["xn--bcher-kva.example", ""],
    ["localhost", ""],
    ["laptop", ""],
    ["[198.51.100.9]", ""],
    ["[192.0.2.1]", ""],
    ["[192.000.002.001]", ""],
    ["[IPv6:2001:db8::1]", ""],
    ["[IPv6:2001:DB8:0:0:0:0:0:26]", ""],
    ["198.51.100.9", ""],
  ]);
});

test("heloCheck() refuses our host name, domains and addresses with 550 5.7.1", async () => {
  const notMe = "550 5.7.1 <";
  await check(heloCheck(OPTIONS), [
    ["mx.example.org", `${notMe}mx.example.org>: Helo command rejected: You are not me`],
    ["MX.Example.ORG.", notMe],
    ["example.org", notMe],
    ["example.net", notMe],
    // The listener's own address, in every spelling.
    ["[192.0.2.25]", notMe],
    ["[192.000.002.025]", notMe],
    ["192.0.2.25", notMe],
    ["[IPv6:::ffff:192.0.2.25]", notMe],
    ["[127.0.0.1]", notMe, "198.51.100.9", "127.0.0.1"],
    ["[127.0.0.1]", notMe, "198.51.100.9", "::ffff:127.0.0.1"],
    ["[IPv6:::1]", notMe, "2001:db8::9", "::1"],
    // Addresses from localAddresses.
    ["[203.0.113.25]", notMe],
    ["[IPv6:2001:DB8:0::25]", notMe],
  ]);
});

test("heloCheck() lets a client name its own address, even when it is ours", async () => {
  await check(heloCheck(OPTIONS), [
    ["[127.0.0.1]", "", "127.0.0.1", "127.0.0.1"],
    ["[127.0.0.1]", "", "::ffff:127.0.0.1", "127.0.0.1"],
    ["[IPv6:::1]", "", "::1", "::1"],
    // A host name is never the client's own.
    ["mx.example.org", "550 5.7.1", "127.0.0.1", "127.0.0.1"],
  ]);
});

test("heloCheck() refuses invalid names with 501 5.5.2", async () => {
  const invalid = "501 5.5.2 Helo command rejected: Invalid name";
  await check(heloCheck(OPTIONS), [
    ["-client.example", invalid],
    ["client-.example", invalid],
    ["client..example", invalid],
    [".client.example", invalid],
    ["client.example..", invalid],
    ["under_score.example", invalid],
    ["client!.example", invalid],
    [`${"a".repeat(64)}.example`, invalid],
    [`${"a.".repeat(128)}example`, invalid],
    ["1.2.3", invalid],
    ["client.123", invalid],
    ["123", invalid],
    ["[1.2.3.4", invalid],
    ["[256.1.1.1]", invalid],
    ["[1.2.3]", invalid],
    ["[IPv6:1::2::3]", invalid],
    ["[IPv6:fe80::1%eth0]", invalid],
    ["[2001:db8::1]", invalid],
    ["[tag:content]", invalid],
    ["[]", invalid],
  ]);
});

test("heloCheck() with requireFqdn refuses names without a dot with 504 5.5.2", async () => {
  await check(heloCheck({ ...OPTIONS, requireFqdn: true }), [
    ["laptop", "504 5.5.2 <laptop>: Helo command rejected: need fully-qualified hostname"],
    ["localhost", "504 5.5.2"],
    ["laptop.", "504 5.5.2"],
    ["client.example.com", ""],
    ["[198.51.100.9]", ""],
    ["[IPv6:2001:db8::1]", ""],
    ["bad_name", "501 5.5.2"],
  ]);
  await check(heloCheck({ ...OPTIONS, hostname: "mailhost", requireFqdn: true }), [
    ["mailhost", "550 5.7.1"],
  ]);
});

test("heloCheck() throws a TypeError for a local address that is not an IP", () => {
  assert.throws(() => heloCheck({ ...OPTIONS, localAddresses: ["mx.example.org"] }), TypeError);
  assert.throws(() => heloCheck({ ...OPTIONS, localAddresses: ["fe80::1%eth0"] }), TypeError);
});

test("heloCheckFromHost() reads require_fqdn and local_addresses and refuses bad options", async () => {
  const host = (options: Record<string, unknown>) => ({
    options,
    hostname: "mx.example.org",
    domains: ["example.org"],
  });
  await check(heloCheckFromHost(host({})), [["laptop", ""], ["example.org", "550 5.7.1"]]);
  await check(heloCheckFromHost(host({ require_fqdn: true, local_addresses: ["203.0.113.25"] })), [
    ["laptop", "504 5.5.2"],
    ["[203.0.113.25]", "550 5.7.1"],
  ]);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ require_fqdn: "yes" }, /require_fqdn must be true or false/],
    [{ local_addresses: "203.0.113.25" }, /local_addresses must be an array of strings/],
    [{ local_addresses: [25] }, /local_addresses must be an array of strings/],
    [{ local_addresses: ["mx.example.org"] }, /plugin\.helo_check: "mx.example.org" is not an IP/],
    [{ requireFqdn: true }, /unknown option "requireFqdn"/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => heloCheckFromHost(host(options)), message, JSON.stringify(options));
  }
});
