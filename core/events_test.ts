import { test } from "node:test";
import assert from "node:assert/strict";
import { EventBus, observeLogger } from "./events.ts";
import { createLogger } from "./log.ts";

test("published events reach observers in order, with increasing seq", () => {
  let now = 1000;
  const bus = new EventBus({ now: () => now++ });
  const seen: string[] = [];
  const stop = bus.subscribe((e) => seen.push(`${e.seq}:${e.name}:${e.time}`));
  bus.publish("connect", { ip: "127.0.0.1" });
  bus.publish("queued", { id: "a" });
  stop();
  bus.publish("disconnect", {});
  assert.deepEqual(seen, ["1:connect:1000", "2:queued:1001"]);
  assert.equal(bus.observers, 0);
});

test("an observer that throws does not stop the others or the publisher", () => {
  const bus = new EventBus();
  let got = 0;
  bus.subscribe(() => {
    throw new Error("broken observer");
  });
  bus.subscribe(() => got++);
  assert.doesNotThrow(() => bus.publish("queued", {}));
  assert.equal(got, 1);
});

test("recent() keeps a bounded ring and filters by seq", () => {
  const bus = new EventBus({ keep: 3 });
  for (let i = 0; i < 5; i++) bus.publish(`e${i}`, {});
  assert.deepEqual(bus.recent().map((e) => e.name), ["e2", "e3", "e4"]);
  assert.deepEqual(bus.recent(4).map((e) => e.seq), [5]);
});

test("observeLogger writes the line and publishes the event", () => {
  const lines: string[] = [];
  const bus = new EventBus();
  const names: string[] = [];
  bus.subscribe((e) => names.push(e.name));
  const log = observeLogger(createLogger({ verbose: false, write: (l) => lines.push(l) }), bus);
  log.event("queued", { id: "x1" });
  log.trace("c1", "<", "EHLO x");
  assert.equal(lines.length, 1);
  assert.match(lines[0] as string, / queued id=x1$/);
  assert.deepEqual(names, ["queued"]);
  assert.equal(log.tracing, false);
});
