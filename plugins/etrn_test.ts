import assert from "node:assert/strict";
import { test } from "node:test";
import type { Decision } from "../core/hooks/decision.ts";
import { DECISIONS, type PluginHost } from "../core/hooks/host.ts";
import type { HookContext, Plugin } from "../core/hooks/plugin.ts";
import type { QueueListing, Spool } from "../core/queue/spool.ts";
import { etrn, ETRN_DEFAULTS, etrnFromHost, type EtrnOptions, parseEtrn } from "./etrn.ts";

/** A spool holding `messages`, recording each flush. */
function fakeSpool(messages: QueueListing[], fail = false) {
  const flushed: string[] = [];
  const spool: Pick<Spool, "flush" | "list"> = {
    list: () => messages,
    flush(selector = {}) {
      if (fail) throw new Error("disk on fire");
      flushed.push(selector.domain ?? "*");
      return messages.flatMap((m) => m.recipients).filter((r) =>
        r.state === "queued" &&
        r.address.toLowerCase().endsWith(`@${selector.domain?.toLowerCase()}`)
      ).length;
    },
  };
  return { spool, flushed };
}

function message(id: string, addresses: string[], held = false): QueueListing {
  return {
    id,
    sender: "alice@example.org",
    size: 100,
    receivedAt: 0,
    held,
    recipients: addresses.map((address) => ({
      address,
      state: "queued",
      attempts: 1,
      nextAttempt: 3_600_000,
      lastError: "421 4.4.2 Connection refused",
    })),
  };
}

const QUEUE = [
  message("A", ["a@remote.test", "b@remote.test"]),
  message("B", ["c@remote.test", "d@other.test"]),
  message("C", ["e@mx.sub.remote.test"]),
  message("D", ["f@held.test"], true),
];

function plugin(overrides: Partial<EtrnOptions> = {}, queue = QUEUE) {
  const { spool, flushed } = fakeSpool(queue);
  let wakes = 0;
  const p = etrn({
    spool,
    queued: () => wakes++,
    isLocalDomain: (d) => d === "example.org",
    ...overrides,
  });
  return { plugin: p, flushed, wakes: () => wakes };
}

function context(
  options: { address?: string; helo?: boolean; transaction?: boolean } = {},
): HookContext {
  return {
    connection: {
      id: "c1",
      remote: { address: options.address ?? "192.0.2.7", port: 40000 },
      local: { address: "192.0.2.25", port: 25 },
      helo: options.helo === false ? undefined : { verb: "EHLO", name: "client.test" },
      tls: undefined,
      user: undefined,
    },
    transaction: options.transaction ? { id: "T" } : undefined,
    state: undefined,
    log: { info() {}, warn() {} },
  } as unknown as HookContext;
}

async function send(
  p: Plugin,
  argument: string,
  ctx: HookContext = context(),
  verb = "ETRN",
): Promise<string> {
  const decision = await p.unknown_command?.(ctx, { verb, argument });
  return describe(decision);
}

function describe(decision: Decision | undefined | void): string {
  if (!decision) return "pass";
  const r = decision.reply;
  return r ? `${r.code} ${r.enhanced} ${r.lines.join(" ")}` : decision.kind;
}

test("parseEtrn() reads domain, @domain and #queue, and refuses anything else", () => {
  const cases: [string, ReturnType<typeof parseEtrn>][] = [
    ["remote.test", { node: "remote.test", subdomains: false }],
    ["Remote.TEST.", { node: "remote.test", subdomains: false }],
    ["@remote.test", { node: "remote.test", subdomains: true }],
    ["#remote.test", { node: "remote.test", subdomains: false }],
    ["bücher.example", { node: "xn--bcher-kva.example", subdomains: false }],
    ["", undefined],
    ["@", undefined],
    ["#", undefined],
    ["a.test b.test", undefined],
    ["@@remote.test", undefined],
    ["[192.0.2.1]", undefined],
    ["user@remote.test", undefined],
    ["-bad-.test", undefined],
    ["127.0.0.1", undefined],
  ];
  for (const [argument, want] of cases) assert.deepEqual(parseEtrn(argument), want, argument);
});

test("etrn() starts the node's queue: flushes its domain, wakes the scheduler, answers 253", async () => {
  const { plugin: p, flushed, wakes } = plugin();
  assert.equal(
    await send(p, "remote.test"),
    "253 2.0.0 2 pending messages for node remote.test started",
  );
  assert.deepEqual(flushed, ["remote.test"]);
  assert.equal(wakes(), 1);
});

test("etrn() with @domain covers subdomains; #queue is a domain", async () => {
  const sub = plugin();
  assert.equal(
    await send(sub.plugin, "@remote.test"),
    "253 2.0.0 3 pending messages for node remote.test started",
  );
  assert.deepEqual(sub.flushed.sort(), ["mx.sub.remote.test", "remote.test"]);
  const queue = plugin();
  assert.match(await send(queue.plugin, "#other.test"), /^253 2\.0\.0 1 pending messages /);
  assert.deepEqual(queue.flushed, ["other.test"]);
});

test("etrn() answers 251 when nothing waits, held mail included, and does not wake", async () => {
  const { plugin: p, flushed, wakes } = plugin();
  assert.equal(await send(p, "nothing.test"), "251 2.0.0 No messages waiting for nothing.test");
  assert.equal(await send(p, "held.test"), "251 2.0.0 No messages waiting for held.test");
  assert.deepEqual(flushed, []);
  assert.equal(wakes(), 0);
});

test("etrn() refuses local domains and domains outside the allow-list with 459 4.7.1", async () => {
  const { plugin: p } = plugin({ domains: ["remote.test"] });
  assert.equal(await send(p, "example.org"), "459 4.7.1 example.org: node not allowed");
  assert.equal(await send(p, "other.test"), "459 4.7.1 other.test: node not allowed");
  assert.match(await send(p, "mx.sub.remote.test"), /^253 /, "an entry allows its subdomains");
  assert.match(await send(p, "@remote.test"), /^253 /);
});

test("etrn() answers 501 5.5.4 for bad syntax and 503 5.5.1 out of sequence", async () => {
  const { plugin: p } = plugin();
  assert.equal(await send(p, ""), "501 5.5.4 Syntax: ETRN [@|#]domain");
  assert.equal(await send(p, "[192.0.2.1]"), "501 5.5.4 Syntax: ETRN [@|#]domain");
  assert.equal(
    await send(p, "remote.test", context({ transaction: true })),
    "503 5.5.1 ETRN not allowed during a mail transaction",
  );
  assert.equal(
    await send(p, "remote.test", context({ helo: false })),
    "503 5.5.1 Send HELO/EHLO first",
  );
});

test("etrn() leaves other verbs to other plugins", async () => {
  const { plugin: p } = plugin();
  assert.equal(await send(p, "remote.test", context(), "XYZZY"), "pass");
});

test("etrn() answers 458 4.0.0 when the spool fails", async () => {
  const { spool } = fakeSpool(QUEUE, true);
  const p = etrn({ spool, queued() {}, isLocalDomain: () => false });
  assert.equal(await send(p, "remote.test"), "458 4.0.0 Unable to queue messages for remote.test");
});

test("etrn() limits runs per client address to per_minute, in a sliding minute", async () => {
  let now = 0;
  const { plugin: p } = plugin({ perMinute: 2, now: () => now });
  const results = [];
  for (let i = 0; i < 3; i++) results.push((await send(p, "remote.test")).slice(0, 9));
  assert.deepEqual(results, ["253 2.0.0", "253 2.0.0", "458 4.7.0"]);
  assert.match(
    await send(p, "remote.test", context({ address: "::ffff:192.0.2.7" })),
    /^458 4\.7\.0 /,
    "an IPv4-mapped address is the same client",
  );
  assert.match(await send(p, "remote.test", context({ address: "192.0.2.8" })), /^253 /);
  // Syntax errors and refused nodes do not use up the allowance.
  assert.match(await send(p, "", context({ address: "192.0.2.9" })), /^501 /);
  assert.match(await send(p, "example.org", context({ address: "192.0.2.9" })), /^459 /);
  assert.match(await send(p, "remote.test", context({ address: "192.0.2.9" })), /^253 /);
  now = 120_000;
  assert.match(await send(p, "remote.test"), /^253 /, "two minutes later");
});

test("etrn() declares its verb for HELP and EHLO", () => {
  const { plugin: p } = plugin();
  assert.equal(p.verbs?.ETRN?.ehlo, "ETRN");
  assert.match(p.verbs?.ETRN?.help ?? "", /^ETRN /);
});

function host(options: Record<string, unknown>): PluginHost {
  return {
    ...DECISIONS,
    options,
    hostname: "mx.example.org",
    domains: ["example.org"],
    isLocalDomain: (d) => d === "example.org",
    directory: { resolve: () => undefined, isUser: () => false },
    dataDir: "/tmp",
    log: { info() {}, warn() {} },
  } as PluginHost;
}

test("etrnFromHost() reads [plugin.etrn] and names bad options", async () => {
  const deps = { spool: fakeSpool(QUEUE).spool, queued() {} };
  const p = etrnFromHost(host({ per_minute: 1, domains: ["other.test"] }), deps);
  assert.equal(await send(p, "remote.test"), "459 4.7.1 remote.test: node not allowed");
  assert.match(await send(p, "other.test"), /^253 /);
  assert.match(await send(p, "other.test"), /^458 4\.7\.0 /);
  assert.equal(ETRN_DEFAULTS.perMinute, 5);
  assert.throws(() => etrnFromHost(host({ nope: 1 }), deps), /plugin\.etrn: unknown option "nope"/);
  assert.throws(() => etrnFromHost(host({ per_minute: "5" }), deps), /per_minute must be/);
  assert.throws(() => etrnFromHost(host({ per_minute: -1 }), deps), /plugin\.etrn: perMinute/);
  assert.throws(() => etrnFromHost(host({ domains: "x.test" }), deps), /domains must be/);
  assert.throws(() => etrnFromHost(host({ domains: ["not a domain"] }), deps), /not a domain/);
});
