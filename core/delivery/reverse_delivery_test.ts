import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { LogFields, Logger } from "../log.ts";
import type { DsnBatch } from "../queue/scheduler.ts";
import type { DueMessage, NewMessage } from "../queue/spool.ts";
import { SqliteSpool } from "../queue/sqlite_spool.ts";
import type { Conn } from "../runtime/conn.ts";
import { loadRuntime } from "../runtime/runtime.ts";
import { createCollector } from "./reverse_delivery.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The collecting client after ATRN, in memory: it greets with `greeting`,
 * answers RCPT by local part (hard… 550, soft… 451, else 250) and records
 * the dialogue as `C:`/`S:` lines (we are C: the SMTP client now).
 */
function peer(greeting = "220 collector.example ESMTP") {
  const transcript: string[] = [];
  const replies: (Uint8Array | null)[] = [];
  let wake: (() => void) | undefined;
  let pending = "";
  let inData = false;
  const say = (line: string | null) => {
    if (line !== null) transcript.push(`S: ${line}`);
    replies.push(line === null ? null : encoder.encode(`${line}\r\n`));
    wake?.();
  };
  if (greeting === "") say(null);
  else say(greeting);
  const conn: Conn = {
    remote: { address: "127.0.0.1", port: 366 },
    local: { address: "127.0.0.1", port: 1 },
    async read() {
      while (replies.length === 0) await new Promise<void>((r) => wake = r);
      return replies.shift() ?? null;
    },
    write(data) {
      pending += decoder.decode(data);
      for (let end = pending.indexOf("\r\n"); end !== -1; end = pending.indexOf("\r\n")) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            transcript.push("C: .");
            say("250 2.0.0 Ok");
          }
          continue;
        }
        transcript.push(`C: ${line}`);
        const verb = line.split(" ")[0];
        if (verb === "EHLO") say("250 collector.example");
        else if (verb === "RCPT") {
          say(
            line.includes("<hard")
              ? "550 5.1.1 No such user"
              : line.includes("<soft")
              ? "451 4.2.0 Busy"
              : "250 2.1.5 Ok",
          );
        } else if (verb === "DATA") {
          inData = true;
          say("354 Go ahead");
        } else if (verb === "QUIT") {
          say("221 2.0.0 Bye");
          say(null);
        } else say("250 2.0.0 Ok");
      }
      return Promise.resolve();
    },
    close() {
      transcript.push("closed");
    },
    startTls: () => Promise.reject(new Error("no TLS here")),
    startTlsClient: () => Promise.reject(new Error("no TLS here")),
  };
  return { conn, transcript };
}

async function setup() {
  const runtime = await loadRuntime();
  const spool = new SqliteSpool(
    runtime.openDatabase(join(mkdtempSync(join(tmpdir(), "reverse-")), "postino.db")),
  );
  const events: [string, LogFields][] = [];
  const log: Logger = {
    event: (name, fields) => void events.push([name, fields]),
    trace() {},
    tracing: false,
  };
  const bounces: [DueMessage, DsnBatch][] = [];
  const collector = createCollector({
    spool,
    heloName: "mx.example.org",
    leaseMs: 60_000,
    now: () => 5000,
    retryAt: (_attempts, now) => now + 1000,
    maxAgeMs: 1e9,
    bounce: (message, report) => {
      bounces.push([message, report]);
      return Promise.resolve();
    },
    log,
  });
  return { spool, collector, events, bounces };
}

function message(id: string, recipients: string[]): NewMessage {
  return {
    id,
    sender: "carol@sender.example",
    params: { smtputf8: false, eightBit: false },
    data: encoder.encode(`Subject: ${id}\r\n\r\n.dot line\r\n`),
    receivedAt: 1000,
    isBounce: false,
    recipients: recipients.map((address) => ({ address, original: address })),
  };
}

test("createCollector() take() then deliver() sends held mail as the client and records it", async () => {
  const { spool, collector, events } = await setup();
  await spool.put(message("A", ["dave@hold.example", "x@elsewhere.example"]));
  const collection = collector.take(["hold.example"]);
  assert.deepEqual([collection.domains, collection.messages], [["hold.example"], 1]);
  assert.equal(collector.take(["hold.example"]).busy[0], "hold.example");
  const { conn, transcript } = peer();
  await collection.deliver(conn);
  assert.deepEqual(transcript, [
    "S: 220 collector.example ESMTP",
    "C: EHLO mx.example.org",
    "S: 250 collector.example",
    "C: MAIL FROM:<carol@sender.example>",
    "S: 250 2.0.0 Ok",
    "C: RCPT TO:<dave@hold.example>",
    "S: 250 2.1.5 Ok",
    "C: DATA",
    "S: 354 Go ahead",
    "C: .",
    "S: 250 2.0.0 Ok",
    "C: QUIT",
    "S: 221 2.0.0 Bye",
    "closed",
  ]);
  // The spool keeps a settled recipient's row while the message still has open ones.
  assert.deepEqual(spool.list()[0]?.recipients.map((r) => [r.address, r.state]), [
    ["dave@hold.example", "delivered"],
    ["x@elsewhere.example", "queued"],
  ]);
  assert.ok(
    events.some(([name, f]) => name === "attempted" && f.via === "atrn" && f.delivered === 1),
  );
  // The domain is free again, and nothing is left for it.
  assert.deepEqual([
    collector.take(["hold.example"]).busy,
    collector.take(["hold.example"]).messages,
  ], [[], 0]);
});

test("createCollector() deliver() bounces refused recipients and keeps deferred ones queued", async () => {
  const { spool, collector, bounces } = await setup();
  await spool.put(message("B", ["hard@hold.example", "soft@hold.example"]));
  const collection = collector.take(["hold.example"]);
  await collection.deliver(peer().conn);
  assert.equal(bounces.length, 1);
  assert.deepEqual(bounces[0]?.[1].failures.map((f) => [f.recipient.address, f.outcome.code]), [
    ["hard@hold.example", 550],
  ]);
  assert.deepEqual(spool.list()[0]?.recipients.map((r) => [r.address, r.state, r.nextAttempt]), [
    ["hard@hold.example", "failed", 5000],
    ["soft@hold.example", "queued", 6000],
  ]);
});

test("createCollector() deliver() never throws: a peer that hangs up defers everything", async () => {
  const { spool, collector, events } = await setup();
  await spool.put(message("C", ["dave@hold.example"]));
  const collection = collector.take(["hold.example"]);
  await collection.deliver(peer("").conn);
  assert.deepEqual(spool.list()[0]?.recipients.map((r) => [r.state, r.attempts]), [["queued", 1]]);
  assert.ok(events.some(([name, f]) => name === "deferred" && f.to === "dave@hold.example"));
  assert.equal(collector.take(["hold.example"]).messages, 1, "the domain lease was given back");
});
