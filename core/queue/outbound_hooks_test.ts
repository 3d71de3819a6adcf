import assert from "node:assert/strict";
import { test } from "node:test";
import type { Plugin } from "../hooks/plugin.ts";
import { type LogFields, SILENT_LOGGER } from "../log.ts";
import { outboundHooks } from "./outbound_hooks.ts";
import type { Deliverer } from "./scheduler.ts";
import type { DueMessage } from "./spool.ts";

const MESSAGE: DueMessage = {
  id: "Q1",
  sender: "a@far.example",
  params: { smtputf8: false, eightBit: false },
  data: new TextEncoder().encode("Subject: x\r\n\r\nhi\r\n"),
  receivedAt: 0,
  isBounce: false,
  warned: false,
  recipients: [
    { address: "x@archive.example", original: "x@archive.example", attempts: 0 },
    { address: "y@Other.Example", original: "y@Other.Example", attempts: 0 },
  ],
};
const [ARCHIVE, OTHER] = MESSAGE.recipients as [
  DueMessage["recipients"][0],
  DueMessage["recipients"][0],
];
const fallback = () => ({ via: "smtp", key: "fallback" });
const builtin: Deliverer = { deliver: () => Promise.resolve([]) };

test("outboundHooks().route() takes the first plugin answer and defaults the key to the domain", async () => {
  const plugins: Plugin[] = [
    { name: "quiet", route: () => undefined },
    {
      name: "archiver",
      route: (_ctx, r) => r.address.endsWith("@archive.example") ? { via: "archive" } : undefined,
    },
    { name: "late", route: () => ({ via: "never" }) },
  ];
  const hooks = outboundHooks({
    plugins: () => plugins,
    fallback,
    builtins: {},
    timeoutMs: 100,
    log: SILENT_LOGGER,
  });
  assert.deepEqual(await hooks.route(MESSAGE, ARCHIVE), { via: "archive", key: "archive.example" });
  assert.deepEqual(await hooks.route(MESSAGE, OTHER), { via: "never", key: "other.example" });
  const none = outboundHooks({
    plugins: () => [],
    fallback,
    builtins: {},
    timeoutMs: 100,
    log: SILENT_LOGGER,
  });
  assert.deepEqual(await none.route(MESSAGE, OTHER), { via: "smtp", key: "fallback" });
});

test("outboundHooks().route() fails closed when a plugin throws or hangs, and logs it", async () => {
  const events: [string, LogFields][] = [];
  const log = {
    ...SILENT_LOGGER,
    event: (name: string, fields: LogFields) => void events.push([name, fields]),
  };
  const thrower: Plugin = {
    name: "thrower",
    route: () => {
      throw new Error("boom");
    },
  };
  const hanger: Plugin = { name: "hanger", route: () => new Promise(() => {}) };
  for (const plugin of [thrower, hanger]) {
    const hooks = outboundHooks({
      plugins: () => [plugin],
      fallback,
      builtins: {},
      timeoutMs: 20,
      log,
    });
    await assert.rejects(hooks.route(MESSAGE, ARCHIVE));
  }
  assert.deepEqual(events.map(([name, f]) => [name, f.plugin, f.hook]), [
    ["plugin_error", "thrower", "route"],
    ["plugin_error", "hanger", "route"],
  ]);
});

test("outboundHooks().deliverer() prefers built-ins, then plugin gateways", () => {
  const gateway: Deliverer = { deliver: () => Promise.resolve([]) };
  const hooks = outboundHooks({
    plugins: () => [{ name: "gw", gateways: { archive: gateway, smtp: gateway } }],
    fallback,
    builtins: { smtp: builtin },
    timeoutMs: 100,
    log: SILENT_LOGGER,
  });
  assert.equal(hooks.deliverer("archive"), gateway);
  assert.equal(hooks.deliverer("smtp"), builtin);
  assert.equal(hooks.deliverer("nope"), undefined);
});

test("outboundHooks().observe() tells plugins about each outcome and about failures", async () => {
  const seen: string[] = [];
  const watcher: Plugin = {
    name: "watcher",
    delivered: (ctx, o) =>
      void seen.push(`delivered ${o.address} ${ctx.message.id} ${ctx.message.size}`),
    deferred: (_ctx, o) => void seen.push(`deferred ${o.address} ${o.code}`),
    bounce: (_ctx, failures) =>
      void seen.push(`bounce ${failures.map((f) => f.recipient.address).join(",")}`),
  };
  const broken: Plugin = { name: "broken", delivered: () => Promise.reject(new Error("ignored")) };
  const hooks = outboundHooks({
    plugins: () => [broken, watcher],
    fallback,
    builtins: {},
    timeoutMs: 100,
    log: SILENT_LOGGER,
  });
  hooks.observe(MESSAGE, [
    { address: ARCHIVE.address, status: "delivered" },
    { address: OTHER.address, status: "failed", code: 550, enhanced: "5.1.1", text: "no" },
  ]);
  hooks.observe(MESSAGE, [{
    address: OTHER.address,
    status: "deferred",
    code: 451,
    enhanced: "4.3.0",
    text: "later",
  }]);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen, [
    "delivered x@archive.example Q1 18",
    "bounce y@Other.Example",
    "deferred y@Other.Example 451",
  ]);
});
