import assert from "node:assert/strict";
import { test } from "node:test";
import { accept } from "../hooks/decision.ts";
import type { Connection, Transaction } from "../hooks/plugin.ts";
import type { Logger } from "../log.ts";
import type { DataResult } from "./data_reader.ts";
import { checkMail, checkRcpt } from "./envelope.ts";
import { Input } from "./input.ts";
import type { Message } from "./message.ts";
import {
  bodyFault,
  Chunks,
  type IntakeApi,
  parseBdat,
  runBdat,
  runData,
} from "./message_intake.ts";
import type { State } from "./session_state.ts";

const encoder = new TextEncoder();
const RULES = { esmtp: true, maxMessageSize: 1000, primaryDomain: "example.org" };

test("parseBdat() reads <size> [LAST] and refuses anything else", () => {
  const cases: [string, { size: number; last: boolean } | undefined][] = [
    ["0", { size: 0, last: false }],
    ["86", { size: 86, last: false }],
    ["86 LAST", { size: 86, last: true }],
    ["86 last", { size: 86, last: true }],
    ["86   LAST", { size: 86, last: true }],
    ["999999999999999", { size: 999999999999999, last: false }],
    ["", undefined],
    [" 86", undefined],
    ["-1", undefined],
    ["1.5", undefined],
    ["86 FIRST", undefined],
    ["86 LAST x", undefined],
    ["1000000000000000", undefined],
  ];
  for (const [argument, expected] of cases) {
    assert.deepEqual(parseBdat(argument), expected, JSON.stringify(argument));
  }
});

test("bodyFault() names the first thing wrong with a DATA body", () => {
  const body = (flags: Partial<DataResult>) => ({
    tooBig: false,
    bareLf: false,
    bareCr: false,
    longLine: false,
    ...flags,
  });
  assert.equal(bodyFault(body({}), "reject"), undefined);
  assert.equal(bodyFault(body({ tooBig: true, bareCr: true }), "reject")?.code, 552);
  assert.equal(bodyFault(body({ bareCr: true }), "normalize")?.code, 550);
  assert.equal(bodyFault(body({ bareLf: true }), "reject")?.enhanced, "5.5.2");
  assert.equal(bodyFault(body({ bareLf: true }), "normalize"), undefined);
  assert.equal(bodyFault(body({ longLine: true }), "reject")?.code, 554);
});

test("Chunks counts announced bytes and keeps room for one past the limit", () => {
  const chunks = new Chunks();
  assert.equal(chunks.room(10), 11);
  chunks.add([encoder.encode("abc")], 3);
  chunks.add([encoder.encode("de")], 20); // a chunk cut short by room() still counts whole
  assert.equal(chunks.bytes, 23);
  assert.equal(chunks.room(10), 0);
  assert.equal(chunks.parts.length, 2);
  chunks.clear();
  assert.equal(chunks.bytes, 0);
  assert.deepEqual(chunks.parts, []);
});

/** A fake session around `bytes` from the client; `sent` records replies and calls. */
function api(bytes: string, state: State, options: { queue?: boolean; recipients?: number } = {}) {
  const sent: string[] = [];
  const events: string[] = [];
  const queued: Message[] = [];
  const { sender, params } = checkMail("MAIL", "FROM:<a@far.example>", RULES);
  const recipients = Array.from(
    { length: options.recipients ?? 1 },
    (_, i) => checkRcpt(`TO:<r${i}@example.org>`, params, RULES),
  );
  const transaction: Transaction = { id: "QID", mode: "MAIL", sender, params, recipients };
  const connection: Connection = {
    id: "c",
    remote: { address: "192.0.2.7", port: 4000 },
    local: { address: "127.0.0.1", port: 25 },
    helo: { verb: "EHLO", name: "c.example" },
    tls: undefined,
    user: undefined,
  };
  const log: Logger = { tracing: false, event: (name) => void events.push(name), trace() {} };
  const input = new Input({
    read: () => Promise.resolve(null),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000,
    initial: encoder.encode(bytes),
  });
  const value: IntakeApi = {
    connection,
    transaction: state === "rcpt" || state === "bdat" ? transaction : undefined,
    state,
    esmtp: true,
    settings: { hostname: "mx.test", maxMessageSize: 1000, bareLf: "reject" },
    log,
    input,
    chunks: new Chunks(),
    send: (r) => void sent.push(`${r.code} ${r.lines[0]}`),
    error: (code, _, text) => void sent.push(`${code} ${text}`),
    refuse: (d) => void sent.push(`${d.reply?.code} ${d.reply?.lines[0]}`),
    logReject: (stage) => void events.push(`reject ${stage}`),
    hook: (hook, ...args) => {
      sent.push(`hook ${hook}`);
      if (hook !== "queue" || !options.queue) return Promise.resolve(undefined);
      queued.push(args[0] as Message);
      return Promise.resolve(accept());
    },
    enterBdat: () => void sent.push("enter bdat"),
    endTransaction: () => (sent.push("end"), Promise.resolve()),
  };
  return { value, sent, events, queued, input };
}

test("runData() stamps Received and answers 250 only once a queue took the message", async () => {
  const fake = api("Subject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n", "rcpt", { queue: true });
  await runData(fake.value, "");
  assert.deepEqual(fake.sent, [
    "hook data",
    "354 End data with <CR><LF>.<CR><LF>",
    "hook data_post",
    "hook queue",
    "250 Ok: queued as QID",
    "end",
  ]);
  assert.deepEqual(fake.events, ["queued"]);
  const received = fake.queued[0]?.get("Received") ?? "";
  assert.match(received, /^from c\.example \(\[192\.0\.2\.7\]\)/);
  assert.match(received, /by mx\.test \(Postino\) with ESMTP id QID/);
  assert.match(received, /for <r0@example\.org>/);
  assert.equal(fake.input.buffered, "QUIT\r\n".length); // the next command stays unread
});

test("runData() refuses arguments, bare LF, and a message no queue accepted", async () => {
  const argument = api("", "rcpt");
  await runData(argument.value, "NOW");
  assert.deepEqual(argument.sent, ["501 DATA takes no arguments"]);

  const bare = api("Subject: x\n\nhi\r\n.\r\n", "rcpt", { queue: true });
  await runData(bare.value, "");
  assert.deepEqual(bare.sent.slice(2), [
    "end",
    "550 Bare CR or LF in message; lines must end with CRLF",
  ]);
  assert.deepEqual(bare.events, ["reject"]);

  const unqueued = api("x\r\n.\r\n", "rcpt");
  await runData(unqueued.value, "");
  assert.deepEqual(unqueued.sent.slice(-2), [
    "451 Message not queued: no queue accepted it",
    "end",
  ]);
  assert.deepEqual(unqueued.events, ["reject queue"]);
});

test("runBdat() reads a refused chunk, so its bytes are never taken for commands", async () => {
  const early = api("MAIL FROM:<x@y>\r\nQUIT\r\n", "mail");
  await runBdat(early.value, "17");
  assert.deepEqual(early.sent, ["503 No valid recipients"]);
  assert.equal(early.input.buffered, "QUIT\r\n".length);

  const none = api("abc", "greeted");
  await runBdat(none.value, "3 LAST");
  assert.deepEqual(none.sent, ["503 Need MAIL and RCPT before BDAT"]);

  const syntax = api("abc", "rcpt");
  await runBdat(syntax.value, "three");
  assert.deepEqual(syntax.sent, ["501 Syntax: BDAT <size> [LAST]"]);
});

test("runBdat() runs the data hook at the first chunk and queues at LAST", async () => {
  const first = api("Subject: x\r\n", "rcpt");
  await runBdat(first.value, "12");
  assert.deepEqual(first.sent, ["hook data", "enter bdat", "250 12 octets received"]);
  assert.equal(first.value.chunks.bytes, 12);

  const last = api("Subject: x\r\n\r\nhi\r\n", "bdat", { queue: true });
  await runBdat(last.value, "18 LAST");
  assert.deepEqual(last.sent, ["hook data_post", "hook queue", "250 Ok: queued as QID", "end"]);
  assert.equal(last.queued[0]?.get("Subject"), "x");

  const big = api("x".repeat(1001), "bdat");
  await runBdat(big.value, "1001 LAST");
  assert.deepEqual(big.sent, ["end", "552 Message size exceeds fixed limit"]);
});
