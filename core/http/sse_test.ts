import assert from "node:assert/strict";
import { test } from "node:test";
import type { Lifecycle } from "./app.ts";
import { formatSseEvent, sseResponse, type SseStream } from "./sse.ts";

function lifecycle(): Lifecycle & { close(): void; size(): number } {
  const fns = new Set<() => void>();
  return {
    onClose(fn) {
      fns.add(fn);
      return () => void fns.delete(fn);
    },
    close: () => [...fns].forEach((fn) => fn()),
    size: () => fns.size,
  };
}

/** Reads text from `response` until `done` holds for it (or the stream ends). */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  done: (text: string) => boolean,
): Promise<{ text: string; ended: boolean }> {
  const decoder = new TextDecoder();
  let text = "";
  while (!done(text)) {
    const chunk = await reader.read();
    if (chunk.done) return { text, ended: true };
    text += decoder.decode(chunk.value, { stream: true });
  }
  return { text, ended: false };
}

test("formatSseEvent() writes id, event and one data line per line", () => {
  assert.equal(
    formatSseEvent({ id: 7, event: "mail", data: "one\ntwo" }),
    "id: 7\nevent: mail\ndata: one\ndata: two\n\n",
  );
  assert.equal(formatSseEvent({ data: "x" }), "data: x\n\n");
  assert.equal(
    formatSseEvent({ id: "a\nb", event: "e\rf", data: "" }),
    "id: ab\nevent: ef\ndata: \n\n",
  );
});

test("sseResponse() streams events after a retry hint, with heartbeats", async () => {
  const life = lifecycle();
  let stream!: SseStream;
  const response = sseResponse({ lifecycle: life, heartbeatMs: 5 }, (s) => void (stream = s));
  assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = response.body!.getReader();
  assert.equal(stream.send({ id: 1, event: "mail", data: "{}" }), true);
  const { text } = await readUntil(reader, (t) => t.includes(": heartbeat\n\n"));
  assert.ok(text.startsWith("retry: 3000\n\nid: 1\nevent: mail\ndata: {}\n\n"), text);
  await reader.cancel();
});

test("sseResponse() ends every stream when the app closes, and runs the cleanup", async () => {
  const life = lifecycle();
  let cleaned = 0;
  const response = sseResponse({ lifecycle: life }, () => () => cleaned++);
  const reader = response.body!.getReader();
  await readUntil(reader, (t) => t.includes("retry"));
  assert.equal(life.size(), 1);
  life.close();
  const { ended } = await readUntil(reader, () => false);
  assert.equal(ended, true);
  assert.equal(cleaned, 1);
  assert.equal(life.size(), 0);
});

test("sseResponse() cuts off a client that stops reading, so its buffer stays bounded", () => {
  const life = lifecycle();
  let stream!: SseStream;
  let cleaned = 0;
  const response = sseResponse({ lifecycle: life, maxBufferedBytes: 4096 }, (s) => {
    stream = s;
    return () => cleaned++;
  });
  assert.ok(response.body);
  // Nobody reads: about 4 KiB fit, then the stream is errored and dropped.
  let sent = 0;
  while (stream.send({ event: "mail", data: "x".repeat(100) }) && sent < 10_000) sent++;
  assert.ok(sent > 10 && sent < 60, `${sent} events queued before the cut`);
  assert.equal(stream.closed, true);
  assert.equal(cleaned, 1);
  assert.equal(life.size(), 0);
  assert.equal(stream.send({ data: "late" }), false);
});

test("sseResponse() cleans up when the client cancels or its request aborts", async () => {
  const life = lifecycle();
  let cleaned = 0;
  const first = sseResponse({ lifecycle: life }, () => () => cleaned++);
  await first.body!.cancel();
  assert.equal(cleaned, 1);
  const abort = new AbortController();
  let stream!: SseStream;
  const second = sseResponse({ lifecycle: life, signal: abort.signal }, (s) => {
    stream = s;
    return () => cleaned++;
  });
  abort.abort();
  assert.equal(stream.closed, true);
  assert.equal(cleaned, 2);
  assert.equal(life.size(), 0);
  await second.body!.cancel();
});
