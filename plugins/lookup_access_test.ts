import assert from "node:assert/strict";
import { test } from "node:test";
import type { HookContext } from "../core/hooks/plugin.ts";
import { lookupAccess, lookupAccessFromOptions, LOOKUPS_PER_MINUTE } from "./lookup_access.ts";

const warnings: string[] = [];

function from(address: string, user?: string): HookContext {
  return {
    connection: { remote: { address, port: 1 }, user },
    log: { info() {}, warn: (message: string) => warnings.push(message) },
  } as unknown as HookContext;
}

function answer(gate: (ctx: HookContext) => unknown, ctx: HookContext): string | undefined {
  const decision = gate(ctx) as { reply: { code: number; enhanced: string; lines: string[] } };
  return decision && `${decision.reply.code} ${decision.reply.enhanced} ${decision.reply.lines[0]}`;
}

test("lookupAccess() lets anyone look up by default", () => {
  assert.equal(lookupAccess()(from("192.0.2.1")), undefined);
});

test("lookupAccess() with requireAuth refuses anonymous clients with 530 5.7.0", () => {
  const gate = lookupAccess({ requireAuth: true });
  assert.equal(answer(gate, from("192.0.2.1")), "530 5.7.0 Authentication required");
  assert.equal(gate(from("192.0.2.1", "alice@example.org")), undefined);
});

test("lookupAccess() with networks lets them in and refuses others with 550 5.7.1", () => {
  const gate = lookupAccess({ networks: ["10.0.0.0/8"] });
  assert.equal(gate(from("10.1.2.3")), undefined);
  assert.equal(gate(from("::ffff:10.1.2.3")), undefined);
  assert.equal(answer(gate, from("192.0.2.1")), "550 5.7.1 Not allowed");
  assert.equal(gate(from("192.0.2.1", "alice@example.org")), undefined);
  // With both, AUTH is what the outsider lacks.
  const both = lookupAccess({ networks: ["10.0.0.0/8"], requireAuth: true });
  assert.equal(both(from("10.1.2.3")), undefined);
  assert.equal(answer(both, from("192.0.2.1")), "530 5.7.0 Authentication required");
});

test("lookupAccess() limits lookups per client address with 450 4.7.0", () => {
  let now = 0;
  const gate = lookupAccess({ perMinute: 2, now: () => now });
  assert.equal(gate(from("192.0.2.1")), undefined);
  assert.equal(gate(from("::ffff:192.0.2.1", "alice@example.org")), undefined);
  assert.equal(answer(gate, from("192.0.2.1")), "450 4.7.0 Too many lookups, slow down");
  assert.equal(gate(from("192.0.2.2")), undefined);
  assert.ok(warnings.includes("lookup rate exceeded"));
  now = 120_000;
  assert.equal(gate(from("192.0.2.1")), undefined);
});

test("lookupAccess() counts only lookups it lets through, and 0 means no limit", () => {
  const gate = lookupAccess({ requireAuth: true, perMinute: 1 });
  for (let i = 0; i < 3; i++) assert.ok(gate(from("192.0.2.1")));
  assert.equal(gate(from("192.0.2.1", "a@example.org")), undefined);
  const free = lookupAccess({ perMinute: 0 });
  for (let i = 0; i < LOOKUPS_PER_MINUTE * 3; i++) assert.equal(free(from("192.0.2.1")), undefined);
});

test("lookupAccess() defaults to LOOKUPS_PER_MINUTE per address", () => {
  const gate = lookupAccess();
  for (let i = 0; i < LOOKUPS_PER_MINUTE; i++) assert.equal(gate(from("192.0.2.9")), undefined);
  assert.ok(gate(from("192.0.2.9")));
});

test("lookupAccessFromOptions() reads its table and names bad options", () => {
  const gate = lookupAccessFromOptions("vrfy", {
    require_auth: true,
    networks: ["127.0.0.0/8"],
    per_minute: 5n,
    non_local: "551",
  });
  assert.equal(gate(from("127.0.0.1")), undefined);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ require_auth: "yes" }, /plugin\.vrfy: require_auth must be true or false/],
    [{ networks: "10.0.0.0/8" }, /plugin\.vrfy: networks must be an array/],
    [{ networks: ["10.0.0.0/99"] }, /plugin\.vrfy: "10\.0\.0\.0\/99" is not/],
    [{ per_minute: "10" }, /plugin\.vrfy: per_minute must be an integer/],
    [{ per_minute: -1 }, /plugin\.vrfy: per_minute must be 0 or a positive integer/],
  ];
  for (const [table, error] of bad) {
    assert.throws(() => lookupAccessFromOptions("vrfy", table), error);
  }
});
