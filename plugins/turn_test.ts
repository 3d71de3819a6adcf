import assert from "node:assert/strict";
import { test } from "node:test";
import type { Decision } from "../core/hooks/decision.ts";
import { DECISIONS, type PluginHost } from "../core/hooks/host.ts";
import type { Connection, HookContext, Plugin, Recipient } from "../core/hooks/plugin.ts";
import type { Collection, Collector } from "../core/delivery/reverse_delivery.ts";
import type { Conn } from "../core/runtime/conn.ts";
import { parseAtrn, turn, turnFromHost } from "./turn.ts";

/** A collector with `waiting` messages per domain; records what was taken and delivered. */
function fakeCollector(waiting: Record<string, number>, busy: string[] = []) {
  const taken: string[][] = [];
  const delivered: Conn[] = [];
  const collector: Collector = {
    take(domains): Collection {
      taken.push([...domains]);
      const got = domains.filter((d) => !busy.includes(d));
      return {
        domains: got,
        busy: domains.filter((d) => busy.includes(d)),
        messages: got.reduce((n, d) => n + (waiting[d] ?? 0), 0),
        deliver(conn) {
          delivered.push(conn);
          return Promise.resolve();
        },
      };
    },
  };
  return { collector, taken, delivered };
}

function plugin(waiting: Record<string, number> = {}, busy: string[] = []) {
  const fake = fakeCollector(waiting, busy);
  const p = turn({
    collector: fake.collector,
    grants: (user) => user === "alice@example.net" ? ["granted.test", "example.org"] : [],
    holdDomains: ["Hold.Test"],
    isLocalDomain: (d) => d === "example.org",
  });
  return { plugin: p, ...fake };
}

function context(over: Partial<Connection> = {}, transaction = false): HookContext {
  return {
    connection: {
      id: "c1",
      remote: { address: "192.0.2.7", port: 40000 },
      local: { address: "192.0.2.25", port: 366 },
      helo: { verb: "EHLO", name: "client.test" },
      tls: { version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256" },
      user: "alice@example.net",
      listener: "odmr",
      ...over,
    },
    transaction: transaction
      ? { id: "T", mode: "MAIL", sender: null, params: {} as never, recipients: [] }
      : undefined,
    state: undefined,
    log: { info() {}, warn() {} },
  };
}

async function atrn(p: Plugin, argument: string, ctx = context()): Promise<Decision | undefined> {
  return (await p.unknown_command?.(ctx, { verb: "ATRN", argument })) ?? undefined;
}

const line = (d: Decision | undefined) =>
  d?.reply ? `${d.reply.code} ${d.reply.enhanced} ${d.reply.lines.join(" ")}` : String(d);

test("parseAtrn() takes a comma-separated list of domains", () => {
  const cases: [string, string[] | undefined][] = [
    ["", []],
    ["Example.NET", ["example.net"]],
    ["a.test,b.test, a.test", ["a.test", "b.test"]],
    ["a.test.", ["a.test"]],
    ["a..test", undefined],
    ["a.test,", undefined],
    ["a test", undefined],
    ["[192.0.2.1]", undefined],
  ];
  for (const [argument, want] of cases) assert.deepEqual(parseAtrn(argument), want, argument);
});

test("turn() ATRN answers 250 and hands the connection to the collection", async () => {
  const { plugin: p, taken, delivered } = plugin({ "example.net": 2 });
  const decision = await atrn(p, "");
  assert.equal(line(decision), "250 2.0.0 OK now reversing the connection");
  assert.deepEqual(taken, [["example.net", "granted.test"]]);
  assert.ok(decision?.kind === "accept" && decision.handover);
  await decision.handover({} as Conn);
  assert.equal(delivered.length, 1);
});

test("turn() ATRN refuses what the user may not collect, and says when nothing waits", async () => {
  const { plugin: p, taken } = plugin({}, ["busy.test"]);
  assert.equal(line(await atrn(p, "other.test")), "450 4.7.1 ATRN request refused");
  // A grant of a local domain counts for nothing: its mail is delivered here.
  assert.equal(line(await atrn(p, "example.org")), "450 4.7.1 ATRN request refused");
  assert.equal(line(await atrn(p, "granted.test")), "453 4.3.0 No messages waiting");
  assert.equal(line(await atrn(p, "a b")), "501 5.5.4 Syntax: ATRN [domain[,domain]...]");
  assert.deepEqual(taken, [["granted.test"]]);
});

test("turn() ATRN answers 451 when another collector holds every domain", async () => {
  const { plugin: p } = plugin({ "example.net": 1 }, ["example.net"]);
  assert.equal(line(await atrn(p, "example.net")), "451 4.3.0 Unable to process ATRN request now");
});

test("turn() refuses TURN and ATRN on port 25, before AUTH and out of sequence", async () => {
  const { plugin: p, taken } = plugin({ "example.net": 1 });
  const port25 = context({ listener: "smtp" });
  assert.equal(line(await p.turn?.(port25) ?? undefined), "502 5.5.1 TURN not available here");
  assert.equal(line(await atrn(p, "", port25)), "502 5.5.1 ATRN not available here");
  const anonymous = context({ user: undefined, listener: "submission" });
  assert.equal(line(await p.turn?.(anonymous) ?? undefined), "530 5.7.0 Authentication required");
  assert.equal(
    line(await atrn(p, "", context({ tls: undefined }))),
    "530 5.7.0 Authentication required",
  );
  assert.equal(line(await atrn(p, "", context({ helo: undefined }))), "503 5.5.1 Send EHLO first");
  assert.equal(
    line(await atrn(p, "", context({}, true))),
    "503 5.5.1 ATRN not allowed during a mail transaction",
  );
  assert.deepEqual(taken, []);
  // Authenticated on an ODMR listener, TURN is ATRN for all the user's domains.
  assert.equal(
    line(await p.turn?.(context()) ?? undefined),
    "250 2.0.0 OK now reversing the connection",
  );
});

test("turn() announces ATRN only over TLS on submission and odmr listeners", () => {
  const when = plugin().plugin.verbs?.ATRN?.ehloWhen;
  assert.ok(when);
  assert.equal(when(context().connection), true);
  assert.equal(when(context({ tls: undefined }).connection), false);
  assert.equal(when(context({ listener: "smtp" }).connection), false);
});

test("turn() accepts recipients of hold domains from anyone, and passes on the rest", async () => {
  const { plugin: p } = plugin();
  const rcpt = (address: string) =>
    p.rcpt?.(context({ user: undefined }), {
      mailbox: { address, local: address.split("@")[0], domain: address.split("@")[1] },
      params: {},
    } as unknown as Recipient);
  assert.equal((await rcpt("dave@hold.test"))?.kind, "accept");
  assert.equal(await rcpt("dave@else.test"), undefined);
});

test("turnFromHost() takes no options", () => {
  const host = (options: Record<string, unknown>) =>
    ({ ...DECISIONS, options, isLocalDomain: () => false }) as unknown as PluginHost;
  const deps = { collector: fakeCollector({}).collector, grants: () => [], holdDomains: [] };
  assert.equal(turnFromHost(host({}), deps).name, "turn");
  assert.throws(() => turnFromHost(host({ x: 1 }), deps), /plugin\.turn: unknown option "x"/);
});
