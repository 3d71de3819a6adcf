import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../core/config.ts";
import { needsRestart } from "./reload_scope.ts";

const base = { hostname: "mx.test", listen: ["127.0.0.1:2525"] };

test("needsRestart() names the start-only settings that changed, by their config names", () => {
  const running = validateConfig(base, "t");
  const next = validateConfig({
    ...base,
    listen: ["127.0.0.1:2526"],
    delivery_concurrency: 3,
    retry_initial: 60,
    // Applied by a reload: never listed.
    max_message_size: 1000,
    relay_host: "127.0.0.1:2500",
    domains: ["example.test"],
  }, "t");
  assert.deepEqual(needsRestart(running, next), [
    "listeners",
    "delivery_concurrency",
    "retry_initial",
  ]);
});

test("needsRestart() names a new hostname: delivery keeps the old one until a restart", () => {
  const running = validateConfig(base, "t");
  const next = validateConfig({ ...base, hostname: "mx2.test" }, "t");
  assert.deepEqual(needsRestart(running, next), ["hostname (for delivery)"]);
});

test("needsRestart() is empty when only reloadable settings changed", () => {
  const running = validateConfig(base, "t");
  const next = validateConfig({ ...base, max_errors: 3, plugins: ["helo_check"] }, "t");
  assert.deepEqual(needsRestart(running, next), []);
});
