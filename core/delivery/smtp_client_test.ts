import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { before, test } from "node:test";
import { TLSSocket } from "node:tls";
import { loadRuntime } from "../runtime/runtime.ts";
import type { Runtime } from "../runtime/runtime.ts";
import {
  DEFAULT_TIMEOUTS,
  type OutboundMessage,
  SmtpClient,
  SmtpClientError,
  type SmtpClientOptions,
} from "./smtp_client.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function message(over: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    sender: "alice@example.org",
    recipients: [{ address: "ok1@remote.test" }],
    data: encode("Subject: hello\r\n\r\nHi there.\r\n"),
    smtputf8: false,
    eightBit: false,
    ...over,
  };
}

// ---------------------------------------------------------------------------
// A scripted remote MTA on node:net (node:tls for STARTTLS).

interface Script {
  greeting?: string;
  /** EHLO keywords after the first line; "reject" answers 502 to EHLO. */
  ehlo?: string[] | "reject";
  /** Offer STARTTLS with this certificate. */
  tls?: { cert: string; key: string };
  /** Answer 220 to STARTTLS, then send garbage instead of a handshake. */
  breakTls?: boolean;
  /** Reply to DATA's final dot or BDAT LAST. */
  dataEnd?: string;
  /** Milliseconds to wait before answering this verb ("GREETING" for the banner). */
  delay?: Record<string, number>;
}

interface RemoteSession {
  /** `C: …` / `S: …` lines, in order. */
  transcript: string[];
  /** Each message as it arrived on the wire (DATA: still stuffed, with the dot line). */
  messages: Uint8Array[];
  /** For each command: were more bytes already waiting behind it (pipelined)? */
  pipelined: Record<string, boolean>[];
  tls: boolean;
}

/** Answers RCPT by local part: ok… 250, soft… 451, hard… 550, bare… 550 without enhanced code. */
function rcptReply(address: string): string {
  if (address.startsWith("soft")) return "451 4.2.0 mailbox busy, try later";
  if (address.startsWith("hard")) return "550 5.1.1 no such user";
  if (address.startsWith("bare")) return "550 nobody here\x07\x1b[31m by that name";
  return "250 2.1.5 Ok";
}

class Reader {
  #buffer = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  #ended = false;
  #source: Socket | undefined;
  #onData = (chunk: Buffer) => {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    this.#wake?.();
  };
  #onEnd = () => {
    this.#ended = true;
    this.#wake?.();
  };

  attach(source: Socket): void {
    this.#source?.off("data", this.#onData);
    this.#source = source;
    source.on("data", this.#onData);
    source.on("end", this.#onEnd);
    source.on("close", this.#onEnd);
    source.on("error", this.#onEnd);
  }

  get pending(): number {
    return this.#buffer.byteLength;
  }

  async #need(ok: () => boolean): Promise<boolean> {
    while (!ok()) {
      if (this.#ended) return false;
      await new Promise<void>((r) => this.#wake = r);
    }
    return true;
  }

  async line(): Promise<string | null> {
    if (!await this.#need(() => this.#buffer.includes("\r\n"))) return null;
    const end = this.#buffer.indexOf("\r\n");
    const line = this.#buffer.subarray(0, end).toString("utf8");
    this.#buffer = this.#buffer.subarray(end + 2);
    return line;
  }

  async bytes(n: number): Promise<Uint8Array | null> {
    if (!await this.#need(() => this.#buffer.byteLength >= n)) return null;
    const out = new Uint8Array(this.#buffer.subarray(0, n));
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** Everything up to and including the `.` line (RFC 5321 §4.1.1.4). */
  async dotData(): Promise<Uint8Array | null> {
    const end = () =>
      this.#buffer.subarray(0, 3).toString() === ".\r\n" ? 0 : this.#buffer.indexOf("\r\n.\r\n");
    if (!await this.#need(() => end() !== -1)) return null;
    const stop = end() === 0 ? 3 : end() + 5;
    const out = new Uint8Array(this.#buffer.subarray(0, stop));
    this.#buffer = this.#buffer.subarray(stop);
    return out;
  }
}

interface Remote {
  port: number;
  sessions: RemoteSession[];
  close(): void;
}

async function startRemote(script: Script = {}): Promise<Remote> {
  const sessions: RemoteSession[] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    const session: RemoteSession = { transcript: [], messages: [], pipelined: [], tls: false };
    sessions.push(session);
    serve(socket, session, script).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return {
    port: address.port,
    sessions,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

async function serve(plain: Socket, session: RemoteSession, script: Script): Promise<void> {
  const reader = new Reader();
  reader.attach(plain);
  let out: Socket = plain;
  const delay = (verb: string) => new Promise((r) => setTimeout(r, script.delay?.[verb] ?? 0));
  const reply = async (verb: string, ...lines: string[]) => {
    await delay(verb);
    for (const line of lines) session.transcript.push(`S: ${line}`);
    out.write(lines.join("\r\n") + "\r\n");
  };
  await reply("GREETING", script.greeting ?? "220 remote.test ESMTP scripted");
  if (!(script.greeting ?? "220").startsWith("220")) {
    session.transcript.push(`C: ${await reader.line()}`);
    plain.end();
    return;
  }
  for (;;) {
    const line = await reader.line();
    if (line === null) return;
    session.transcript.push(`C: ${line}`);
    const verb = (line.split(/[ :]/)[0] ?? "").toUpperCase();
    session.pipelined.push({ [verb]: reader.pending > 0 });
    if (verb === "EHLO") {
      if (script.ehlo === "reject") {
        await reply(verb, "502 5.5.2 EHLO not implemented");
        continue;
      }
      const keywords = [...script.ehlo ?? []];
      if (script.tls && !session.tls) keywords.push("STARTTLS");
      const lines = ["remote.test greets you", ...keywords];
      await reply(verb, ...lines.map((l, i) => `250${i === lines.length - 1 ? " " : "-"}${l}`));
    } else if (verb === "HELO") {
      await reply(verb, "250 remote.test");
    } else if (verb === "STARTTLS" && script.tls) {
      await reply(verb, "220 2.0.0 go ahead");
      if (script.breakTls) {
        plain.end("this is not TLS\r\n");
        return;
      }
      const secure = new TLSSocket(plain, { isServer: true, ...script.tls });
      secure.on("error", () => plain.destroy());
      reader.attach(secure);
      out = secure;
      session.tls = true;
    } else if (verb === "MAIL") {
      await reply(verb, "250 2.1.0 Ok");
    } else if (verb === "RCPT") {
      await reply(verb, rcptReply(/<([^>]*)>/.exec(line)?.[1] ?? ""));
    } else if (verb === "DATA") {
      await reply(verb, "354 go ahead");
      const data = await reader.dotData();
      if (data === null) return;
      session.messages.push(data);
      await reply(".", script.dataEnd ?? "250 2.0.0 Ok: queued");
    } else if (verb === "BDAT") {
      const data = await reader.bytes(Number(line.split(" ")[1]));
      if (data === null) return;
      session.messages.push(data);
      await reply(verb, script.dataEnd ?? "250 2.0.0 Ok: queued");
    } else if (verb === "RSET" || verb === "NOOP") {
      await reply(verb, "250 2.0.0 Ok");
    } else if (verb === "QUIT") {
      await reply(verb, "221 2.0.0 Bye");
      out.end();
      return;
    } else {
      await reply(verb, "500 5.5.1 unknown command");
    }
  }
}

let runtime: Runtime;
let certs: { cert: string; key: string; otherCert: string };

before(async () => {
  runtime = await loadRuntime();
  const dir = mkdtempSync(join(tmpdir(), "smtp-client-"));
  const selfSigned = (name: string) => {
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-keyout",
      join(dir, `${name}.key`),
      "-out",
      join(dir, `${name}.pem`),
    ], { stdio: "ignore" });
    return {
      cert: readFileSync(join(dir, `${name}.pem`), "utf8"),
      key: readFileSync(join(dir, `${name}.key`), "utf8"),
    };
  };
  const main = selfSigned("main");
  certs = { ...main, otherCert: selfSigned("other").cert };
});

async function withRemote(
  script: Script,
  options: Partial<SmtpClientOptions>,
  fn: (client: SmtpClient, remote: Remote) => Promise<void>,
): Promise<void> {
  const remote = await startRemote(script);
  try {
    const client = await SmtpClient.open(runtime, {
      host: "127.0.0.1",
      port: remote.port,
      heloName: "client.example.org",
      tls: "none",
      ...options,
    });
    try {
      await fn(client, remote);
    } finally {
      await client.quit();
    }
  } finally {
    remote.close();
  }
}

test("DEFAULT_TIMEOUTS follow RFC 5321 §4.5.3.2", () => {
  assert.equal(DEFAULT_TIMEOUTS.greeting, 300_000);
  assert.equal(DEFAULT_TIMEOUTS.mail, 300_000);
  assert.equal(DEFAULT_TIMEOUTS.rcpt, 300_000);
  assert.equal(DEFAULT_TIMEOUTS.dataInit, 120_000);
  assert.equal(DEFAULT_TIMEOUTS.dataBlock, 180_000);
  assert.equal(DEFAULT_TIMEOUTS.dataEnd, 600_000);
});

test("SmtpClient.send() without PIPELINING goes lock-step and reports each recipient", async () => {
  await withRemote({ ehlo: ["8BITMIME", "ENHANCEDSTATUSCODES"] }, {}, async (client, remote) => {
    assert.deepEqual([...client.extensions.keys()], ["8BITMIME", "ENHANCEDSTATUSCODES"]);
    const results = await client.send(message({
      recipients: [
        { address: "ok1@remote.test" },
        { address: "soft@remote.test" },
        { address: "hard@remote.test" },
        { address: "bare@remote.test" },
        { address: "ok2@remote.test" },
      ],
    }));
    assert.deepEqual(results, [
      {
        address: "ok1@remote.test",
        status: "sent",
        code: 250,
        enhanced: "2.0.0",
        text: "Ok: queued",
        remote: true,
      },
      {
        address: "soft@remote.test",
        status: "deferred",
        code: 451,
        enhanced: "4.2.0",
        text: "mailbox busy, try later",
        remote: true,
      },
      {
        address: "hard@remote.test",
        status: "failed",
        code: 550,
        enhanced: "5.1.1",
        text: "no such user",
        remote: true,
      },
      // No enhanced code from the remote: derived; control characters gone.
      {
        address: "bare@remote.test",
        status: "failed",
        code: 550,
        enhanced: "5.0.0",
        text: "nobody here [31m by that name",
        remote: true,
      },
      {
        address: "ok2@remote.test",
        status: "sent",
        code: 250,
        enhanced: "2.0.0",
        text: "Ok: queued",
        remote: true,
      },
    ]);
    const session = remote.sessions[0]!;
    assert.deepEqual(session.transcript.filter((l) => l.startsWith("C:")), [
      "C: EHLO client.example.org",
      "C: MAIL FROM:<alice@example.org>",
      "C: RCPT TO:<ok1@remote.test>",
      "C: RCPT TO:<soft@remote.test>",
      "C: RCPT TO:<hard@remote.test>",
      "C: RCPT TO:<bare@remote.test>",
      "C: RCPT TO:<ok2@remote.test>",
      "C: DATA",
    ]);
    // Never a command written before the previous reply arrived.
    assert.ok(session.pipelined.every((p) => !Object.values(p)[0]));
    assert.equal(decode(session.messages[0]!), "Subject: hello\r\n\r\nHi there.\r\n.\r\n");
  });
});

test("SmtpClient.send() pipelines MAIL and every RCPT, then sends DATA", async () => {
  await withRemote({ ehlo: ["PIPELINING", "SIZE 100000"] }, {}, async (client, remote) => {
    const results = await client.send(message({
      recipients: [{ address: "ok1@remote.test" }, { address: "hard@remote.test" }],
    }));
    assert.deepEqual(results.map((r) => r.status), ["sent", "failed"]);
    const session = remote.sessions[0]!;
    assert.deepEqual(session.pipelined.slice(1, 4), [{ MAIL: true }, { RCPT: true }, {
      RCPT: false,
    }]);
    assert.ok(session.transcript.includes("C: MAIL FROM:<alice@example.org> SIZE=29"));
  });
});

test("SmtpClient.send() normalises bare CR and LF and dot-stuffs, byte-exact on the wire", async () => {
  await withRemote({ ehlo: ["PIPELINING"] }, {}, async (client, remote) => {
    const data = encode("Subject: x\n\n.leading dot\r..\nbare\rCR\r\r\nend");
    const [result] = await client.send(message({ data }));
    assert.equal(result?.status, "sent");
    assert.equal(
      decode(remote.sessions[0]!.messages[0]!),
      "Subject: x\r\n\r\n..leading dot\r\n...\r\nbare\r\nCR\r\n\r\nend\r\n.\r\n",
    );
  });
});

test("SmtpClient.send() uses BDAT LAST when CHUNKING is offered, without dot-stuffing", async () => {
  await withRemote({ ehlo: ["PIPELINING", "CHUNKING", "8BITMIME"] }, {}, async (client, remote) => {
    const data = encode("Subject: b\r\n\r\n.dot\r\ncaf\u00e9\r\n");
    const [result] = await client.send(message({ data, eightBit: true }));
    assert.equal(result?.status, "sent");
    const session = remote.sessions[0]!;
    assert.ok(session.transcript.includes("C: MAIL FROM:<alice@example.org> BODY=8BITMIME"));
    assert.ok(session.transcript.includes(`C: BDAT ${data.byteLength} LAST`));
    assert.deepEqual(session.messages[0], data);
  });
});

test("SmtpClient.send() reuses the session for several messages; no RCPT accepted means no DATA", async () => {
  await withRemote({ ehlo: ["PIPELINING"] }, {}, async (client, remote) => {
    const none = await client.send(
      message({ recipients: [{ address: "hard@remote.test" }, { address: "soft@remote.test" }] }),
    );
    assert.deepEqual(none.map((r) => r.status), ["failed", "deferred"]);
    const second = await client.send(message({ sender: "" }));
    assert.equal(second[0]?.status, "sent");
    assert.ok(client.isOpen);
    const commands = remote.sessions[0]!.transcript.filter((l) => l.startsWith("C:"));
    assert.deepEqual(commands.slice(1), [
      "C: MAIL FROM:<alice@example.org>",
      "C: RCPT TO:<hard@remote.test>",
      "C: RCPT TO:<soft@remote.test>",
      "C: RSET",
      "C: MAIL FROM:<>",
      "C: RCPT TO:<ok1@remote.test>",
      "C: DATA",
    ]);
    assert.equal(remote.sessions.length, 1);
  });
});

test("SmtpClient.send() throws when the session is lost before MAIL got its reply", async () => {
  await withRemote({ ehlo: ["PIPELINING"] }, {}, async (client, remote) => {
    assert.equal((await client.send(message()))[0]?.status, "sent");
    remote.close(); // the remote drops the idle connection
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(
      client.send(message()),
      (e) => e instanceof SmtpClientError && !e.permanent && e.enhanced === "4.4.2",
    );
    assert.equal(client.isOpen, false);
    await assert.rejects(client.send(message()), /closed/);
  });
});

test("SmtpClient.send() applies the end-of-data reply to every accepted recipient", async () => {
  for (
    const [dataEnd, status] of [["452 4.3.1 disk full", "deferred"], [
      "554 5.6.0 content refused",
      "failed",
    ]] as const
  ) {
    await withRemote({ ehlo: ["PIPELINING"], dataEnd }, {}, async (client) => {
      const results = await client.send(message({
        recipients: [{ address: "ok1@remote.test" }, { address: "ok2@remote.test" }, {
          address: "hard@remote.test",
        }],
      }));
      assert.deepEqual(results.map((r) => [r.status, r.code]), [
        [status, Number(dataEnd.slice(0, 3))],
        [status, Number(dataEnd.slice(0, 3))],
        ["failed", 550],
      ]);
    });
  }
});

test("SmtpClient.send() refuses locally what the remote cannot take: SIZE, 8BITMIME, SMTPUTF8", async () => {
  await withRemote({ ehlo: ["PIPELINING", "SIZE 20"] }, {}, async (client, remote) => {
    const big = await client.send(
      message({ recipients: [{ address: "ok1@remote.test" }, { address: "ok2@remote.test" }] }),
    );
    assert.deepEqual(big.map((r) => [r.status, r.code, r.enhanced, r.remote]), [
      ["failed", 552, "5.3.4", false],
      ["failed", 552, "5.3.4", false],
    ]);
    const small = encode("x\r\n");
    const eight = await client.send(message({ data: encode("\u00e9\r\n") }));
    assert.deepEqual([eight[0]?.code, eight[0]?.enhanced], [554, "5.6.3"]);
    const flagged = await client.send(message({ data: small, eightBit: true }));
    assert.deepEqual([flagged[0]?.code, flagged[0]?.enhanced], [554, "5.6.3"]);
    const utf8 = await client.send(
      message({ data: small, recipients: [{ address: "j\u00f6rg@remote.test" }] }),
    );
    assert.deepEqual([utf8[0]?.status, utf8[0]?.code, utf8[0]?.enhanced], ["failed", 553, "5.6.7"]);
    // Nothing at all went on the wire for them.
    assert.deepEqual(remote.sessions[0]!.transcript.filter((l) => l.startsWith("C:")), [
      "C: EHLO client.example.org",
    ]);
  });
  await withRemote({ ehlo: ["8BITMIME", "SMTPUTF8"] }, {}, async (client, remote) => {
    const [sent] = await client.send(
      message({ smtputf8: true, recipients: [{ address: "j\u00f6rg@remote.test" }] }),
    );
    assert.equal(sent?.status, "sent");
    assert.ok(remote.sessions[0]!.transcript.includes("C: MAIL FROM:<alice@example.org> SMTPUTF8"));
    assert.ok(remote.sessions[0]!.transcript.includes("C: RCPT TO:<j\u00f6rg@remote.test>"));
  });
});

test("SmtpClient.send() refuses addresses that could smuggle commands", async () => {
  await withRemote({ ehlo: ["PIPELINING"] }, {}, async (client, remote) => {
    const results = await client.send(message({
      recipients: [
        { address: "ok1@remote.test>\r\nRCPT TO:<evil@remote.test" },
        { address: "ok2@remote.test\nDATA" },
        { address: "ok3@remote.test" },
      ],
    }));
    assert.deepEqual(results.map((r) => [r.status, r.code, r.enhanced]), [
      ["failed", 553, "5.1.3"],
      ["failed", 553, "5.1.3"],
      ["sent", 250, "2.0.0"],
    ]);
    const badSender = await client.send(message({ sender: "a@b.test\r\nRSET" }));
    assert.deepEqual([badSender[0]?.code, badSender[0]?.enhanced], [553, "5.1.7"]);
    const wire = remote.sessions[0]!.transcript.join("\n");
    assert.doesNotMatch(wire, /evil|RSET|C: DATA\nC: DATA/);
  });
});

test("SmtpClient.send() sends DSN parameters as xtext only when DSN is offered", async () => {
  const dsn = message({
    envid: "id+1 =x",
    ret: "HDRS",
    recipients: [{
      address: "ok1@remote.test",
      notify: ["success", "FAILURE", "bogus\r\n"],
      orcpt: { type: "rfc822", address: "Ok1+tag@remote.test" },
    }],
  });
  await withRemote({ ehlo: ["DSN"] }, {}, async (client, remote) => {
    await client.send(dsn);
    const commands = remote.sessions[0]!.transcript;
    assert.ok(commands.includes("C: MAIL FROM:<alice@example.org> RET=HDRS ENVID=id+2B1+20+3Dx"));
    assert.ok(
      commands.includes(
        "C: RCPT TO:<ok1@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Ok1+2Btag@remote.test",
      ),
    );
  });
  await withRemote({}, {}, async (client, remote) => {
    await client.send(dsn);
    assert.ok(remote.sessions[0]!.transcript.includes("C: MAIL FROM:<alice@example.org>"));
    assert.ok(remote.sessions[0]!.transcript.includes("C: RCPT TO:<ok1@remote.test>"));
  });
});

test("SmtpClient.open() falls back to HELO when EHLO gets a 5xx", async () => {
  await withRemote({ ehlo: "reject" }, {}, async (client, remote) => {
    assert.equal(client.extensions.size, 0);
    assert.equal(client.remoteGreeting, "remote.test ESMTP scripted");
    const [eight] = await client.send(message({ data: encode("\u00e9\r\n") }));
    assert.equal(eight?.enhanced, "5.6.3");
    const [plain] = await client.send(message());
    assert.equal(plain?.status, "sent");
    assert.deepEqual(remote.sessions[0]!.transcript.slice(1, 5), [
      "C: EHLO client.example.org",
      "S: 502 5.5.2 EHLO not implemented",
      "C: HELO client.example.org",
      "S: 250 remote.test",
    ]);
  });
});

test("SmtpClient.open() throws a permanent error on a 554 greeting, temporary on 421", async () => {
  for (
    const [greeting, permanent] of [["554 5.7.1 go away", true], ["421 4.3.2 busy", false]] as const
  ) {
    const remote = await startRemote({ greeting });
    try {
      const error = await SmtpClient.open(runtime, {
        host: "127.0.0.1",
        port: remote.port,
        heloName: "client.example.org",
        tls: "opportunistic",
      }).then(() => undefined, (e) => e);
      assert.ok(error instanceof SmtpClientError, String(error));
      assert.equal(error.permanent, permanent);
      assert.equal(error.code, Number(greeting.slice(0, 3)));
      assert.equal(error.enhanced, greeting.slice(4, 9));
      assert.equal(error.text, greeting.slice(10));
      // RFC 5321 §3.1: the client still says QUIT.
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(remote.sessions[0]!.transcript.includes("C: QUIT"));
    } finally {
      remote.close();
    }
  }
});

test("SmtpClient.open() fails temporarily when the remote is down", async () => {
  const remote = await startRemote();
  const port = remote.port;
  remote.close();
  await new Promise((r) => setTimeout(r, 20));
  await assert.rejects(
    SmtpClient.open(runtime, { host: "127.0.0.1", port, heloName: "c.example.org", tls: "none" }),
    (e) => e instanceof SmtpClientError && !e.permanent && e.enhanced === "4.4.1",
  );
});

test("SmtpClient timeouts: a slow greeting, and a slow RCPT defers the recipients", async () => {
  const slow = await startRemote({ delay: { GREETING: 500 } });
  try {
    const started = Date.now();
    await assert.rejects(
      SmtpClient.open(runtime, {
        host: "127.0.0.1",
        port: slow.port,
        heloName: "c.example.org",
        tls: "none",
        timeouts: { greeting: 50 },
      }),
      (e) => e instanceof SmtpClientError && !e.permanent && /timeout/.test(e.text),
    );
    assert.ok(Date.now() - started < 400);
  } finally {
    slow.close();
  }
  await withRemote(
    { ehlo: ["PIPELINING"], delay: { RCPT: 500 } },
    { timeouts: { rcpt: 50 } },
    async (client) => {
      const results = await client.send(
        message({ recipients: [{ address: "ok1@remote.test" }, { address: "ok2@remote.test" }] }),
      );
      assert.deepEqual(results.map((r) => [r.status, r.enhanced]), [["deferred", "4.4.2"], [
        "deferred",
        "4.4.2",
      ]]);
      assert.equal(client.isOpen, false);
    },
  );
});

test("SmtpClient.open() upgrades with STARTTLS and greets again", async () => {
  await withRemote(
    { ehlo: ["PIPELINING"], tls: { cert: certs.cert, key: certs.key } },
    { tls: "opportunistic" },
    async (client, remote) => {
      assert.match(client.tls?.version ?? "", /^TLSv1\.[23]$/);
      assert.ok(!client.extensions.has("STARTTLS"));
      const [result] = await client.send(message());
      assert.equal(result?.status, "sent");
      const session = remote.sessions[0]!;
      assert.ok(session.tls);
      assert.deepEqual(session.transcript.filter((l) => /^C: (EHLO|STARTTLS)/.test(l)), [
        "C: EHLO client.example.org",
        "C: STARTTLS",
        "C: EHLO client.example.org",
      ]);
      assert.equal(decode(session.messages[0]!), "Subject: hello\r\n\r\nHi there.\r\n.\r\n");
    },
  );
});

test("SmtpClient.open() TLS policies: required without STARTTLS, verify with the wrong CA, opportunistic fallback", async () => {
  const plain = await startRemote({ ehlo: ["PIPELINING"] });
  const tls = await startRemote({ tls: { cert: certs.cert, key: certs.key } });
  const broken = await startRemote({ tls: { cert: certs.cert, key: certs.key }, breakTls: true });
  const open = (port: number, options: Partial<SmtpClientOptions>) =>
    SmtpClient.open(runtime, {
      host: "127.0.0.1",
      port,
      heloName: "c.example.org",
      tls: "required",
      ...options,
    });
  try {
    await assert.rejects(
      open(plain.port, {}),
      (e) => e instanceof SmtpClientError && e.enhanced === "4.7.4" && !e.permanent,
    );
    await assert.rejects(
      open(tls.port, { tls: "verify", servername: "localhost", ca: certs.otherCert }),
      (e) => e instanceof SmtpClientError && e.enhanced === "4.7.5" && !e.permanent,
    );
    const opportunistic = await open(plain.port, { tls: "opportunistic" });
    assert.equal(opportunistic.tls, undefined);
    await opportunistic.quit();
    await assert.rejects(
      open(broken.port, {}),
      (e) => e instanceof SmtpClientError && e.enhanced === "4.7.5",
    );
    const fallback = await open(broken.port, { tls: "opportunistic" });
    assert.equal(fallback.tls, undefined);
    assert.match(fallback.tlsError ?? "", /handshake/);
    const [result] = await fallback.send(message());
    assert.equal(result?.status, "sent");
    await fallback.quit();
    // The first try of each policy: STARTTLS; the fallback: a new connection without it.
    const last = broken.sessions.at(-1)!;
    assert.ok(!last.transcript.includes("C: STARTTLS"));
    assert.ok(broken.sessions.at(-2)!.transcript.includes("C: STARTTLS"));
  } finally {
    plain.close();
    tls.close();
    broken.close();
  }
});

// ---------------------------------------------------------------------------
// Postfix's smtp-sink as a real remote (PEERS.md). Each transaction is dumped
// to a file: smtp-sink's own headers, then the message with LF line endings
// and the dot-stuffing undone, then an empty line.

const SINK_PATH = `${process.env.PATH ?? ""}:/usr/sbin:/usr/local/sbin:/sbin`;
const HAVE_SINK = (() => {
  try {
    execFileSync("sh", ["-c", "command -v smtp-sink"], {
      env: { PATH: SINK_PATH },
      stdio: "ignore",
    });
    return true;
  } catch {
    return false;
  }
})();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  await new Promise((resolve) => server.close(resolve));
  return address.port;
}

interface Sink {
  port: number;
  /** Waits for `count` dump files and returns their contents, in no set order. */
  dumps(count: number): Promise<string[]>;
  stop(): void;
}

async function startSink(options: string[]): Promise<Sink> {
  const dir = mkdtempSync(join(tmpdir(), "smtp-sink-"));
  chmodSync(dir, 0o777); // smtp-sink drops to `nobody` before writing
  const port = await freePort();
  const asRoot = process.getuid?.() === 0 ? ["-u", "nobody"] : [];
  const child: ChildProcess = spawn(
    "smtp-sink",
    ["-4", ...asRoot, "-d", `${dir}/%M.`, ...options, `127.0.0.1:${port}`, "10"],
    { env: { PATH: SINK_PATH }, stdio: "ignore" },
  );
  const stop = () => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGTERM");
  };
  for (let i = 0;; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const probe = createConnection({ host: "127.0.0.1", port }, () => {
        probe.destroy();
        resolve(true);
      });
      probe.on("error", () => resolve(false));
    });
    if (up) break;
    if (i > 100) {
      stop();
      throw new Error("smtp-sink did not start");
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port,
    async dumps(count) {
      for (let i = 0; i < 250; i++) {
        const files = readdirSync(dir).map((name) => join(dir, name));
        const texts = files.map((file) => readFileSync(file, "utf8"));
        // A dump is complete once its final empty line is there.
        if (files.length >= count && texts.every((t) => t.endsWith("\n\n"))) {
          return texts;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return readdirSync(dir).map((name) => readFileSync(join(dir, name), "utf8"));
    },
    stop,
  };
}

/** Splits a dump into smtp-sink's header fields and the message after its Received field. */
function parseDump(dump: string): { fields: string[]; body: string } {
  const received = dump.indexOf("Received: ");
  const lines = dump.slice(received).split("\n");
  return {
    fields: dump.slice(0, received).split("\n").filter((l) => l !== ""),
    body: lines.slice(3).join("\n"),
  };
}

const toLf = (bytes: Uint8Array) => decode(bytes).replaceAll("\r\n", "\n");

async function withSink(
  options: string[],
  fn: (client: SmtpClient, sink: Sink) => Promise<void>,
): Promise<void> {
  const sink = await startSink(options);
  try {
    const client = await SmtpClient.open(runtime, {
      host: "127.0.0.1",
      port: sink.port,
      heloName: "client.example.org",
      tls: "opportunistic",
    });
    try {
      await fn(client, sink);
    } finally {
      await client.quit();
    }
  } finally {
    sink.stop();
  }
}

test("SmtpClient against smtp-sink: two messages on one connection arrive byte-exact", {
  skip: !HAVE_SINK,
}, async () => {
  await withSink([], async (client, sink) => {
    assert.ok(client.extensions.has("PIPELINING"));
    assert.ok(client.extensions.has("DSN"));
    const first = message({
      recipients: [
        { address: "one@remote.test", notify: ["FAILURE", "DELAY"] },
        { address: "two@remote.test", orcpt: { type: "rfc822", address: "two=x@remote.test" } },
        { address: "three@remote.test" },
      ],
      data: encode(
        "From: alice@example.org\r\nSubject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nna\u00efve\r\n",
      ),
      eightBit: true,
      envid: "Q1",
      ret: "FULL",
    });
    const second = message({ sender: "", data: encode("Subject: bounce\r\n\r\nnull sender\r\n") });
    const r1 = await client.send(first);
    assert.deepEqual(r1.map((r) => [r.status, r.code, r.enhanced]), [
      ["sent", 250, "2.0.0"],
      ["sent", 250, "2.0.0"],
      ["sent", 250, "2.0.0"],
    ]);
    const r2 = await client.send(second);
    assert.equal(r2[0]?.status, "sent");
    const dumps = (await sink.dumps(2)).map(parseDump);
    const d1 = dumps.find((d) => d.fields.includes("X-Rcpt-Args: <three@remote.test>"));
    const d2 = dumps.find((d) => d !== d1);
    assert.deepEqual(d1?.fields.filter((f) => /^X-(Mail|Rcpt|Helo)-Args/.test(f)), [
      "X-Helo-Args: client.example.org",
      "X-Mail-Args: <alice@example.org> BODY=8BITMIME RET=FULL ENVID=Q1",
      "X-Rcpt-Args: <one@remote.test> NOTIFY=FAILURE,DELAY",
      "X-Rcpt-Args: <two@remote.test> ORCPT=rfc822;two+3Dx@remote.test",
      "X-Rcpt-Args: <three@remote.test>",
    ]);
    assert.equal(d1?.body, `${toLf(first.data)}\n`);
    assert.ok(d2?.fields.includes("X-Mail-Args: <>"));
    assert.equal(d2?.body, `${toLf(second.data)}\n`);
  });
});

test("SmtpClient against smtp-sink: RCPT soft and hard rejects defer and fail", {
  skip: !HAVE_SINK,
}, async () => {
  await withSink(["-r", "RCPT", "-b", "452 4.2.2 mailbox full"], async (client) => {
    assert.ok(!client.extensions.has("PIPELINING")); // -r implies -p
    const results = await client.send(message());
    assert.deepEqual(results.map((r) => [r.status, r.code, r.enhanced, r.text]), [
      ["deferred", 452, "4.2.2", "mailbox full"],
    ]);
  });
  await withSink(["-f", "RCPT", "-B", "550 5.1.1 no such user"], async (client, sink) => {
    const results = await client.send(message({
      recipients: [{ address: "a@remote.test" }, { address: "b@remote.test" }],
    }));
    assert.deepEqual(results.map((r) => [r.status, r.code, r.enhanced, r.text]), [
      ["failed", 550, "5.1.1", "no such user"],
      ["failed", 550, "5.1.1", "no such user"],
    ]);
    // After the RSET the session still carries mail.
    assert.ok(client.isOpen);
    assert.deepEqual(await sink.dumps(0), []);
  });
});

test("SmtpClient against smtp-sink: no 8BITMIME or DSN, no ESMTP, and a 421 after DATA", {
  skip: !HAVE_SINK,
}, async () => {
  await withSink(["-8", "-N"], async (client, sink) => {
    const [eight] = await client.send(message({ data: encode("Subject: x\r\n\r\n\u00e9\r\n") }));
    assert.deepEqual([eight?.status, eight?.code, eight?.enhanced], ["failed", 554, "5.6.3"]);
    const [seven] = await client.send(
      message({ envid: "E", recipients: [{ address: "a@remote.test", notify: ["NEVER"] }] }),
    );
    assert.equal(seven?.status, "sent");
    const [dump] = (await sink.dumps(1)).map(parseDump);
    assert.ok(dump?.fields.includes("X-Mail-Args: <alice@example.org>"));
    assert.ok(dump?.fields.includes("X-Rcpt-Args: <a@remote.test>"));
  });
  await withSink(["-e"], async (client, sink) => {
    assert.equal(client.extensions.size, 0); // EHLO got 500: HELO it was
    const [sent] = await client.send(message());
    assert.equal(sent?.status, "sent");
    const [dump] = (await sink.dumps(1)).map(parseDump);
    assert.ok(dump?.fields.includes("X-Client-Proto: SMTP"));
  });
  await withSink(["-Q", "."], async (client) => {
    const results = await client.send(message({
      recipients: [{ address: "a@remote.test" }, { address: "b@remote.test" }],
    }));
    assert.deepEqual(results.map((r) => [r.status, r.code]), [["deferred", 421], [
      "deferred",
      421,
    ]]);
    assert.equal(client.isOpen, false);
  });
});
