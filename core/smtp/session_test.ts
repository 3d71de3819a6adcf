/**
 * In-process dialogues with a Session over a scripted connection. The wire
 * tests in tests/ cover the same ground against the real server; these pin
 * down the state machine and the hook order quickly.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { accept, disconnect, reject } from "../hooks/decision.ts";
import type { Plugin } from "../hooks/plugin.ts";
import { HookRunner } from "../hooks/runner.ts";
import { SILENT_LOGGER } from "../log.ts";
import type { Conn } from "../runtime/conn.ts";
import type { Message } from "./message.ts";
import { Session, type SessionSettings } from "./session.ts";

const SETTINGS: SessionSettings = {
  hostname: "mx.test",
  primaryDomain: "example.org",
  isLocalDomain: (d) => d === "example.org",
  maxMessageSize: 1000,
  maxRecipients: 3,
  maxErrors: 5,
  idleTimeoutMs: 2000,
  bareLf: "reject",
};

/** A connection that plays `chunks` and records every write. */
function scriptedConn(chunks: string[]): Conn & { writes: string[] } {
  const queue = chunks.map((c) => new TextEncoder().encode(c));
  const writes: string[] = [];
  return {
    writes,
    remote: { address: "192.0.2.7", port: 4000 },
    local: { address: "127.0.0.1", port: 25 },
    read: () => Promise.resolve(queue.shift() ?? null),
    write: (data) => (writes.push(new TextDecoder().decode(data)), Promise.resolve()),
    close() {},
    startTls: () => Promise.reject(new Error("no TLS here")),
    startTlsClient: () => Promise.reject(new Error("no TLS here")),
  };
}

async function converse(
  chunks: string[],
  plugins: Plugin[] = [],
  settings: Partial<SessionSettings> = {},
): Promise<{ writes: string[]; replies: string[] }> {
  const conn = scriptedConn(chunks);
  const session = new Session({
    conn,
    connection: {
      id: "t",
      remote: conn.remote,
      local: conn.local,
      helo: undefined,
      tls: undefined,
      user: undefined,
    },
    runner: new HookRunner(plugins, { timeoutMs: 500, log: SILENT_LOGGER }),
    settings: { ...SETTINGS, ...settings },
    log: SILENT_LOGGER,
    newQueueId: () => "QID",
  });
  await session.run();
  const replies = conn.writes.join("").split("\r\n").filter((l) => /^\d{3} /.test(l));
  return { writes: conn.writes, replies };
}

const acceptAll: Plugin = { name: "all", rcpt: () => accept(), queue: () => accept() };

test("Session greets, runs a transaction and says goodbye", async () => {
  const { replies } = await converse([
    "EHLO c.example\r\n",
    "MAIL FROM:<a@far.example>\r\n",
    "RCPT TO:<b@example.org>\r\n",
    "DATA\r\n",
    "Subject: x\r\n\r\nhi\r\n.\r\n",
    "QUIT\r\n",
  ], [acceptAll]);
  assert.deepEqual(replies, [
    "220 mx.test ESMTP Postino",
    "250 HELP",
    "250 2.1.0 Ok",
    "250 2.1.5 Ok",
    "354 End data with <CR><LF>.<CR><LF>",
    "250 2.0.0 Ok: queued as QID",
    "221 2.0.0 mx.test Bye",
  ]);
});

test("Session answers a pipelined group in one write", async () => {
  const { writes } = await converse([
    "EHLO c.example\r\nMAIL FROM:<a@far.example>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n",
    "x\r\n.\r\nQUIT\r\n",
  ], [acceptAll]);
  assert.equal(writes.length, 3, JSON.stringify(writes)); // greeting, the group, the rest
  assert.match(
    writes[1] as string,
    /^250-mx\.test[\s\S]*250 2\.1\.0[\s\S]*250 2\.1\.5[\s\S]*250 2\.1\.5[\s\S]*354 /,
  );
  assert.match(writes[2] as string, /^250 2\.0\.0 Ok: queued as QID\r\n221 /);
});

test("Session checks sequence and syntax before any plugin sees the command", async () => {
  const seen: string[] = [];
  const spy: Plugin = {
    name: "spy",
    mail: () => void seen.push("mail"),
    rcpt: () => void seen.push("rcpt"),
  };
  const { replies } = await converse([
    "MAIL FROM:<a@b.example>\r\n",
    "HELO c.example\r\n",
    "RCPT TO:<b@example.org>\r\n",
    "MAIL FROM:a@b.example\r\n",
    "MAIL FROM:<a@b.example> SIZE=9\r\n",
    "QUIT\r\n",
  ], [spy]);
  assert.deepEqual(replies.slice(1), [
    "503 5.5.1 Send HELO/EHLO first",
    "250 mx.test",
    "503 5.5.1 Need MAIL command",
    "501 5.5.2 Syntax: MAIL FROM:<address>",
    "555 5.5.4 Parameters need EHLO",
    "221 2.0.0 mx.test Bye",
  ]);
  assert.deepEqual(seen, []);
});

test("Session refuses an unaccepted recipient by domain: 5.1.1 local, 5.7.1 relay", async () => {
  const { replies } = await converse([
    "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@example.org>\r\nRCPT TO:<x@far.example>\r\nQUIT\r\n",
  ]);
  assert.equal(replies[3], "550 5.1.1 Recipient address rejected: User unknown");
  assert.equal(replies[4], "550 5.7.1 Relay access denied");
});

test("Session sends 451 when no queue plugin accepts the message", async () => {
  const { replies } = await converse([
    "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n",
    "hi\r\n.\r\nQUIT\r\n",
  ], [{ name: "rcpt", rcpt: () => accept() }]);
  assert.equal(replies[5], "451 4.3.0 Message not queued: no queue accepted it");
});

test("Session lets data_post edit headers before queue sees the message", async () => {
  let stored = "";
  const plugins: Plugin[] = [{
    name: "edit",
    data_post(_ctx, message) {
      message.set("Subject", "edited");
    },
  }, {
    name: "store",
    rcpt: () => accept(),
    queue(_ctx, message: Message) {
      stored = new TextDecoder().decode(message.toBytes());
      return accept();
    },
  }];
  await converse([
    "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n",
    "Subject: old\r\n\r\nbody\r\n.\r\n",
  ], plugins);
  assert.match(
    stored,
    /^Received: from c \(\[192\.0\.2\.7\]\)\r\n\tby mx\.test \(Postino\) with ESMTP id QID\r\n\tfor <x@example\.org>;/,
  );
  assert.match(stored, /\r\nSubject: edited\r\n\r\nbody\r\n$/);
});

test("Session closes after max_errors failed commands with 421", async () => {
  // After EHLO: a client that pipelines before it is an early talker (554 5.5.0).
  const { replies } = await converse(["EHLO c\r\nBOGUS\r\nBOGUS\r\nBOGUS\r\nNOOP\r\n"], [], {
    maxErrors: 3,
  });
  assert.deepEqual(replies.slice(2), [
    "500 5.5.1 Command unrecognized",
    "500 5.5.1 Command unrecognized",
    "500 5.5.1 Command unrecognized",
    "421 4.7.0 mx.test Error: too many errors",
  ]);
});

test("Session closes at once when a hook decides to disconnect", async () => {
  const { replies } = await converse(["EHLO c\r\nNOOP\r\n"], [{
    name: "bye",
    helo: () => disconnect(421, "4.7.0", "Go away"),
  }]);
  assert.deepEqual(replies, ["220 mx.test ESMTP Postino", "421 4.7.0 Go away"]);
});

test("Session refuses the connection when the connect hook rejects", async () => {
  const { replies } = await converse(["EHLO c\r\n"], [{
    name: "no",
    connect: () => reject(554, "5.7.1", "No service"),
  }]);
  assert.deepEqual(replies, ["554 5.7.1 No service"]);
});

test("Session resets the transaction on RSET and runs the reset hook", async () => {
  let resets = 0;
  const { replies } = await converse(
    ["EHLO c\r\nMAIL FROM:<a@b.example>\r\nRSET\r\nRCPT TO:<x@example.org>\r\nQUIT\r\n"],
    [{ name: "r", reset: () => void resets++ }],
  );
  assert.equal(replies[3], "250 2.0.0 Ok");
  assert.equal(replies[4], "503 5.5.1 Need MAIL command");
  assert.equal(resets, 1);
});

test("Session answers 554 5.5.0 and closes when a client pipelines before EHLO", async () => {
  const { replies } = await converse(["HELO c\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n"]);
  assert.deepEqual(replies, [
    "220 mx.test ESMTP Postino",
    "554 5.5.0 mx.test Protocol error: pipelining without PIPELINING",
  ]);
});

test("Session.stop() closes a client that does not read, when the 421 write times out", async () => {
  let release: (chunk: Uint8Array | null) => void = () => {};
  let writes = 0;
  const conn: Conn = {
    ...scriptedConn([]),
    read: () => new Promise((resolve) => release = resolve),
    // The greeting goes out; the 421 never does: the client stopped reading.
    write: () => writes++ === 0 ? Promise.resolve() : new Promise(() => {}),
    close: () => release(null),
  };
  const session = new Session({
    conn,
    connection: {
      id: "t",
      remote: conn.remote,
      local: conn.local,
      helo: undefined,
      tls: undefined,
      user: undefined,
    },
    runner: new HookRunner([], { timeoutMs: 100, log: SILENT_LOGGER }),
    settings: { ...SETTINGS, writeTimeoutMs: 20 },
    log: SILENT_LOGGER,
    newQueueId: () => "QID",
  });
  const done = session.run();
  await new Promise((resolve) => setTimeout(resolve, 20));
  session.stop();
  await done; // and no unhandled WriteTimeout rejection fails the test
  assert.equal(writes, 2);
});

test("Session answers 421 4.4.2 when the client goes quiet", async () => {
  const conn = scriptedConn(["EHLO c\r\n"]);
  let reads = 0;
  const silent: Conn = { ...conn, read: () => reads++ === 0 ? conn.read() : new Promise(() => {}) };
  const session = new Session({
    conn: silent,
    connection: {
      id: "t",
      remote: conn.remote,
      local: conn.local,
      helo: undefined,
      tls: undefined,
      user: undefined,
    },
    runner: new HookRunner([], { timeoutMs: 100, log: SILENT_LOGGER }),
    settings: { ...SETTINGS, idleTimeoutMs: 50 },
    log: SILENT_LOGGER,
    newQueueId: () => "QID",
  });
  await session.run();
  assert.match(conn.writes.join(""), /421 4\.4\.2 mx\.test Error: timeout exceeded\r\n$/);
});

test("Session offers SASL mechanisms that plugins add, and their credentials go to the auth hook", async () => {
  const conn = scriptedConn([
    "EHLO c\r\n",
    "AUTH XTOKEN\r\n",
    "good-token\r\n",
    "MAIL FROM:<t@example.org>\r\nQUIT\r\n",
  ]);
  const tokens: Plugin = {
    name: "tokens",
    sasl: {
      async XTOKEN(initial, io) {
        if (initial !== undefined) return { kind: "malformed" };
        io.send({ code: 334, enhanced: "", lines: ["token?"] });
        const line = await io.readLine();
        if (line === null) return { kind: "gone" };
        return {
          kind: "credentials",
          credentials: {
            mechanism: "XTOKEN",
            authzid: "",
            username: "t@example.org",
            password: line,
          },
        };
      },
    },
    auth: (_ctx, credentials) =>
      credentials.mechanism === "XTOKEN" && credentials.password === "good-token"
        ? accept()
        : reject(535, "5.7.8", "no"),
  };
  const session = new Session({
    conn,
    connection: {
      id: "t",
      remote: conn.remote,
      local: conn.local,
      helo: undefined,
      tls: { version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256" },
      user: undefined,
    },
    runner: new HookRunner([tokens], { timeoutMs: 500, log: SILENT_LOGGER }),
    settings: {
      ...SETTINGS,
      auth: {
        verify: () => Promise.resolve(false),
        limiter: {
          blocked: () => ({ blocked: false }),
          failure: () => ({ delayMs: 0, nowBlocked: false }),
          success() {},
        } as never,
      },
    },
    log: SILENT_LOGGER,
    newQueueId: () => "QID",
  });
  await session.run();
  const text = conn.writes.join("");
  assert.match(text, /250-AUTH PLAIN LOGIN XTOKEN\r\n/);
  assert.match(text, /334 token\?\r\n235 2\.7\.0 Authentication successful\r\n/);
  assert.match(text, /250 2\.1\.0 Ok\r\n221 /);
  assert.equal(session.connection.user, "t@example.org");
});

test("Session announces plugin verbs in EHLO and HELP, and routes them to unknown_command", async () => {
  const etrn: Plugin = {
    name: "etrn_like",
    verbs: { XQUEUE: { help: "XQUEUE <domain>: start a queue run", ehlo: "XQUEUE" } },
    unknown_command: (_ctx, command) =>
      command.verb === "XQUEUE"
        ? accept(250, "2.0.0", `Queue run started for ${command.argument}`)
        : undefined,
  };
  const { replies, writes } = await converse([
    "EHLO c\r\nHELP\r\nHELP XQUEUE\r\nXQUEUE example.org\r\nQUIT\r\n",
  ], [etrn]);
  assert.match(writes.join(""), /250[- ]XQUEUE\r\n/);
  assert.match(writes.join(""), /214-.* XQUEUE\r\n/);
  assert.ok(replies.includes("214 2.0.0 XQUEUE <domain>: start a queue run"));
  assert.ok(replies.includes("250 2.0.0 Queue run started for example.org"));
});

/** A connection the test feeds while the session runs; close() ends the stream. */
function fedConn(): Conn & { writes: string[]; feed(text: string): void; closed: boolean } {
  const base = scriptedConn([]);
  const chunks: (Uint8Array | null)[] = [];
  let wake = () => {};
  const conn = {
    ...base,
    closed: false,
    async read(): Promise<Uint8Array | null> {
      while (chunks.length === 0) await new Promise<void>((resolve) => wake = resolve);
      return chunks.shift() as Uint8Array | null;
    },
    feed(text: string) {
      chunks.push(new TextEncoder().encode(text));
      wake();
    },
    close() {
      conn.closed = true;
      chunks.push(null);
      wake();
    },
  };
  return conn;
}

/** A session over `conn` with `plugins`, started; returns it and its end. */
function running(conn: Conn, plugins: Plugin[]): { session: Session; done: Promise<void> } {
  const session = new Session({
    conn,
    connection: {
      id: "t",
      remote: conn.remote,
      local: conn.local,
      helo: undefined,
      tls: undefined,
      user: undefined,
    },
    runner: new HookRunner(plugins, { timeoutMs: 500, log: SILENT_LOGGER }),
    settings: SETTINGS,
    log: SILENT_LOGGER,
    newQueueId: () => "QID",
  });
  return { session, done: session.run() };
}

/** Waits until `conn` has written a line matching `pattern`. */
async function written(conn: { writes: string[] }, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 200 && !pattern.test(conn.writes.join("")); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.match(conn.writes.join(""), pattern);
}

test("Session.stop() between BDAT chunks lets the message finish, then says 421 4.3.2", async () => {
  const queued: string[] = [];
  const plugins: Plugin[] = [{
    name: "all",
    rcpt: () => accept(),
    queue: (
      _ctx,
      message: Message,
    ) => (queued.push(new TextDecoder().decode(message.toBytes())), accept()),
  }];
  const conn = fedConn();
  const { session, done } = running(conn, plugins);
  conn.feed("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 5\r\nhello");
  await written(conn, /250 2\.0\.0 5 octets received\r\n$/);
  session.stop();
  conn.feed("BDAT 7 LAST\r\n world\n");
  await done;
  const replies = conn.writes.join("").split("\r\n").filter((l) => /^\d{3} /.test(l));
  assert.deepEqual(replies.slice(-2), [
    "250 2.0.0 Ok: queued as QID",
    "421 4.3.2 mx.test Service shutting down",
  ]);
  assert.equal(queued.length, 1);
  assert.ok(queued[0]?.endsWith("hello world\n"), queued[0]);
});

test("Session.abort() mid-DATA says 421 4.3.2, closes and queues nothing", async () => {
  let queued = 0;
  const plugins: Plugin[] = [{
    name: "all",
    rcpt: () => accept(),
    queue: () => (queued++, accept()),
  }];
  const conn = fedConn();
  const { session, done } = running(conn, plugins);
  conn.feed("EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
  await written(conn, /354 /);
  conn.feed("Subject: half\r\n\r\nand never the end\r\n");
  session.stop();
  await session.abort(100);
  await done;
  assert.ok(conn.closed);
  assert.match(conn.writes.join(""), /421 4\.3\.2 mx\.test Service shutting down\r\n$/);
  assert.equal(queued, 0);
});
