import assert from "node:assert/strict";
import { test } from "node:test";
import { SILENT_LOGGER } from "../log.ts";
import type { Conn } from "../runtime/conn.ts";
import { ClientGone } from "./input.ts";
import { MAX_QUEUED_BYTES, Output, WriteTimeout } from "./output.ts";
import { reply } from "./reply.ts";

/** A connection whose writes are recorded, or never finish when `stuck`. */
function conn(options: { stuck?: boolean; fail?: boolean } = {}): Conn & { writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    remote: { address: "192.0.2.7", port: 4000 },
    local: { address: "127.0.0.1", port: 25 },
    read: () => Promise.resolve(null),
    write(data) {
      if (options.fail) return Promise.reject(new Error("reset"));
      writes.push(new TextDecoder().decode(data));
      return options.stuck ? new Promise(() => {}) : Promise.resolve();
    },
    close() {},
    startTls: () => Promise.reject(new Error("no TLS")),
    startTlsClient: () => Promise.reject(new Error("no TLS")),
  };
}

test("Output.flush() writes every queued reply in one write", async () => {
  const c = conn();
  const out = new Output(c, SILENT_LOGGER, "t");
  out.push(reply(250, "2.1.0", "Ok"));
  out.push(reply(250, "2.1.5", "Ok"));
  await out.flush();
  await out.flush(); // nothing queued: no write
  assert.deepEqual(c.writes, ["250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"]);
});

test("Output.full turns true past the bound and false after a flush", async () => {
  const out = new Output(conn(), SILENT_LOGGER, "t");
  const noop = reply(250, "2.0.0", "Ok"); // 14 octets
  let pushed = 0;
  while (!out.full) {
    out.push(noop);
    pushed++;
  }
  assert.equal(pushed, Math.floor(MAX_QUEUED_BYTES / 14) + 1);
  await out.flush();
  assert.equal(out.full, false);
  const small = new Output(conn(), SILENT_LOGGER, "t", { maxQueuedBytes: 20 });
  small.push(noop);
  assert.equal(small.full, false);
  small.push(noop);
  assert.equal(small.full, true);
});

test("Output.flush() throws WriteTimeout when the client does not take the bytes", async () => {
  const out = new Output(conn({ stuck: true }), SILENT_LOGGER, "t", { writeTimeoutMs: 30 });
  out.push(reply(250, "2.0.0", "Ok"));
  const started = performance.now();
  const error = await out.flush().catch((e) => e);
  assert.ok(error instanceof WriteTimeout, String(error));
  assert.ok(error instanceof ClientGone, "a WriteTimeout ends the session like a lost client");
  assert.ok(performance.now() - started >= 25);
});

test("Output.flush() turns a failed write into ClientGone", async () => {
  const out = new Output(conn({ fail: true }), SILENT_LOGGER, "t", { writeTimeoutMs: 1000 });
  out.push(reply(250, "2.0.0", "Ok"));
  await assert.rejects(out.flush(), ClientGone);
});
