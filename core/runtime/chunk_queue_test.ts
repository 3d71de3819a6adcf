import assert from "node:assert/strict";
import { test } from "node:test";
import { ChunkQueue, HIGH_WATER } from "./chunk_queue.ts";
import { parseHostPort } from "./conn.ts";

test("ChunkQueue.read() returns chunks in order, waits, and ends with null", async () => {
  const queue = new ChunkQueue({ pause() {}, resume() {} });
  queue.push(new Uint8Array([1]));
  queue.push(new Uint8Array([2]));
  assert.deepEqual(await queue.read(), new Uint8Array([1]));
  assert.deepEqual(await queue.read(), new Uint8Array([2]));
  const pending = queue.read();
  queue.push(new Uint8Array([3]));
  assert.deepEqual(await pending, new Uint8Array([3]));
  queue.end();
  assert.equal(await queue.read(), null);
});

test("ChunkQueue pauses the source past the high-water mark and resumes when drained", async () => {
  const events: string[] = [];
  const queue = new ChunkQueue({
    pause: () => events.push("pause"),
    resume: () => events.push("resume"),
  });
  const chunk = new Uint8Array(64 * 1024);
  for (let sent = 0; sent <= HIGH_WATER; sent += chunk.byteLength) queue.push(chunk);
  assert.deepEqual(events, ["pause"]);
  while (events.length === 1) await queue.read();
  assert.deepEqual(events, ["pause", "resume"]);
});

test("parseHostPort() splits IPv4, names and bracketed IPv6", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:25"), { hostname: "127.0.0.1", port: 25 });
  assert.deepEqual(parseHostPort("[::1]:2525"), { hostname: "::1", port: 2525 });
  assert.deepEqual(parseHostPort("mx.example:0"), { hostname: "mx.example", port: 0 });
  for (const bad of ["nohost", ":25", "a:b", "a:65536", "::1:25"]) {
    assert.throws(() => parseHostPort(bad), TypeError, bad);
  }
});
