import assert from "node:assert/strict";
import { test } from "node:test";
import type { Plugin } from "../core/hooks/plugin.ts";
import type { LogFields, Logger } from "../core/log.ts";
import { type Chain, ChainCloser } from "./plugin_chains.ts";

/** A logger that keeps its events. */
function recording(): Logger & { events: [string, LogFields][] } {
  const events: [string, LogFields][] = [];
  return {
    tracing: false,
    events,
    event: (name, fields) => events.push([name, fields]),
    trace() {},
  };
}

/** A chain of one plugin whose close() records `name` in `closed`. */
function chain(name: string, closed: string[], close?: () => void | Promise<void>): Chain {
  const plugin: Plugin = {
    name,
    close: () => {
      closed.push(name);
      return close?.();
    },
  };
  return { plugins: [plugin] };
}

test("ChainCloser.retire() closes a chain only once no session uses it, and only once", async () => {
  const closed: string[] = [];
  let idle = () => {};
  const unused = new Promise<void>((resolve) => idle = resolve);
  const chains = new ChainCloser<Chain>({
    log: recording(),
    timeoutMs: 1000,
    whenUnused: () => unused,
  });
  const old = chain("old", closed);
  chains.retire(old);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(closed, []);
  idle();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(closed, ["old"]);
  await chains.closeAll([chain("current", closed)]);
  assert.deepEqual(closed, ["old", "current"]);
});

test("ChainCloser.closeAll() closes retired chains still in use, and logs a close() that throws or hangs", async () => {
  const closed: string[] = [];
  const log = recording();
  const chains = new ChainCloser<Chain>({
    log,
    timeoutMs: 20,
    whenUnused: () => new Promise(() => {}), // a session that never ends
  });
  chains.retire(chain("throws", closed, () => {
    throw new Error("boom");
  }));
  chains.retire(chain("hangs", closed, () => new Promise(() => {})));
  await chains.closeAll([chain("current", closed)]);
  assert.deepEqual(closed, ["throws", "hangs", "current"]);
  assert.deepEqual(log.events.map(([name, f]) => [name, f.plugin]), [
    ["plugin_close_failed", "throws"],
    ["plugin_close_failed", "hangs"],
  ]);
});
