import assert from "node:assert/strict";
import { test } from "node:test";
import { EventBus } from "../events.ts";
import { eventRoutes, publicEvent } from "./api_events.ts";
import type { Lifecycle } from "./app.ts";
import type { AdminDeps } from "./deps.ts";

const lifecycle: Lifecycle = { onClose: () => () => {} };

function app(bus: EventBus) {
  return eventRoutes({ events: bus } as unknown as AdminDeps, lifecycle);
}

async function readEvents(response: Response, count: number): Promise<string[]> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const events = () => text.split("\n\n").filter((block) => block.includes("event: mail"));
  while (events().length < count) {
    const chunk = await reader.read();
    if (chunk.done) break;
    text += decoder.decode(chunk.value, { stream: true });
  }
  await reader.cancel();
  return events();
}

test("GET /api/events replays kept events after Last-Event-ID, then streams live ones", async () => {
  const bus = new EventBus();
  for (const id of ["A", "B", "C"]) bus.publish("queued", { id });
  const response = await app(bus).request("/", { headers: { "last-event-id": "1" } });
  assert.equal(response.status, 200);
  bus.publish("delivered", { id: "A", to: "x@y" });
  const events = await readEvents(response, 3);
  assert.deepEqual(events.map((e) => /^id: (\d+)/.exec(e)?.[1]), ["2", "3", "4"]);
  const last = JSON.parse(/data: (.*)/.exec(events[2] as string)?.[1] ?? "");
  assert.equal(last.seq, 4);
  assert.equal(last.name, "delivered");
  assert.deepEqual(last.fields, { id: "A", to: "x@y" });
  assert.equal(typeof last.time, "number");
  assert.equal(bus.observers, 0, "the subscription ends with the stream");
});

test("GET /api/events?since= replays too; without either it starts live", async () => {
  const bus = new EventBus();
  bus.publish("queued", { id: "A" });
  bus.publish("queued", { id: "B" });
  const since = await app(bus).request("/?since=0");
  assert.equal((await readEvents(since, 2)).length, 2);
  const live = await app(bus).request("/");
  bus.publish("queued", { id: "C" });
  const [only] = await readEvents(live, 1);
  assert.match(only ?? "", /^id: 3$/m);
  const bad = await app(bus).request("/?since=-1");
  assert.equal(bad.status, 400);
});

test("publicEvent() blanks fields whose names suggest secrets", () => {
  const event = publicEvent({
    seq: 1,
    time: 0,
    name: "plugin",
    fields: {
      user: "a@x",
      password: "hunter2",
      apiToken: "t",
      secret_key: "s",
      mechanism: "PLAIN",
    },
  });
  assert.deepEqual(event.fields, {
    user: "a@x",
    password: "[redacted]",
    apiToken: "[redacted]",
    secret_key: "[redacted]",
    mechanism: "PLAIN",
  });
});
