import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DECISIONS, type PluginHost } from "../core/hooks/host.ts";
import { isPluginPath } from "./loader.ts";
import { buildChain, DEFAULT_CHAIN } from "./registry.ts";

const deps = {
  spool: {
    spool: { put: () => Promise.resolve(), count: () => 0 },
    maxQueued: 10,
    queued() {},
    now: () => 0,
  },
  relayNetworks: [],
};

function hostFor(spec: { name: string; options: Record<string, unknown> }): PluginHost {
  return {
    ...DECISIONS,
    options: spec.options,
    hostname: "mx.test",
    domains: ["example.org"],
    isLocalDomain: (d) => d === "example.org",
    directory: { resolve: () => undefined, isUser: () => false },
    dataDir: "/tmp",
    log: { info() {}, warn() {} },
  };
}

test("buildChain() puts configured plugins before the built-in acceptors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "plugins-"));
  const file = join(dir, "mine.ts");
  writeFileSync(file, `export default (host) => ({ name: "mine:" + host.options.tag });\n`);
  const chain = await buildChain([{ name: file, options: { tag: "x" } }], hostFor, deps);
  assert.deepEqual(chain.map((p) => p.name), ["mine:x", ...DEFAULT_CHAIN]);
});

test("buildChain() does not repeat a built-in the config already lists", async () => {
  const chain = await buildChain([{ name: "spool", options: {} }], hostFor, deps);
  assert.deepEqual(chain.map((p) => p.name), [
    "spool",
    "rate_limit",
    "sender_login",
    "rcpt_local",
    "relay",
  ]);
});

test("buildChain() leaves sender_login out when sender_login_check is off", async () => {
  const chain = await buildChain([], hostFor, { ...deps, senderLoginCheck: false });
  assert.deepEqual(chain.map((p) => p.name), ["rate_limit", "rcpt_local", "relay", "spool"]);
});

test("buildChain() refuses unknown names and bad plugin files", async () => {
  await assert.rejects(
    buildChain([{ name: "nope", options: {} }], hostFor, deps),
    /unknown plugin "nope"/,
  );
  const dir = mkdtempSync(join(tmpdir(), "plugins-"));
  const file = join(dir, "bad.ts");
  writeFileSync(file, `export default 42;\n`);
  await assert.rejects(buildChain([{ name: file, options: {} }], hostFor, deps), /default export/);
  await assert.rejects(
    buildChain([{ name: join(dir, "missing.ts"), options: {} }], hostFor, deps),
    /cannot load plugin/,
  );
});

test("isPluginPath() tells files from built-in names", () => {
  assert.equal(isPluginPath("./x.ts"), true);
  assert.equal(isPluginPath("x.js"), true);
  assert.equal(isPluginPath("/abs/plugin"), true);
  assert.equal(isPluginPath("rcpt_local"), false);
});

test("buildChain() hands default built-ins their [plugin.NAME] table", async () => {
  const seen: Record<string, unknown> = {};
  await buildChain(
    [],
    (spec) => {
      seen[spec.name] = spec.options;
      return hostFor(spec);
    },
    deps,
    { rate_limit: { messages_per_minute: 0 } },
  );
  assert.deepEqual(seen.rate_limit, { messages_per_minute: 0 });
  assert.deepEqual(seen.spool, {});
});
