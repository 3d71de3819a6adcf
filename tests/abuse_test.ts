/**
 * Wire tests for abuse resistance: early talkers, pipelining before it was
 * offered, slowloris clients (command and DATA deadlines), a client that
 * never reads our replies, and the per-address rate limits. Every case ends
 * with the server still answering other clients.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient, transcript } from "./helpers/smtp_client.ts";

const TIMEOUT = { timeout: 60_000 };

/** Sends `text` one byte every `everyMs` until it is all sent or the server closes. */
async function trickle(client: RawClient, text: string, everyMs: number): Promise<void> {
  for (const byte of text) {
    if (client.closed) return;
    await client.write(byte);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits for one reply and returns its last line and the milliseconds it took. */
async function timedReply(client: RawClient, since: number): Promise<[string, number]> {
  const reply = await client.reply(15_000);
  return [reply[reply.length - 1] as string, Date.now() - since];
}

/** Reads the greeting, says EHLO and checks the server still works. */
async function stillServes(port: number): Promise<void> {
  const client = await transcript(
    port,
    `
    S: 220
    C: EHLO healthy.example
    S: 250 HELP
    C: NOOP
    S: 250 2.0.0
    C: QUIT
    S: 221 2.0.0
  `,
  );
  await client.waitClosed();
}

describe("early talkers, slow clients and non-reading clients", () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      users: ["alice@localhost"],
      config: [
        "greet_pause = 1",
        "command_timeout = 2",
        "data_timeout = 3",
        "write_timeout = 2",
      ].join("\n"),
    });
  });

  after(async () => {
    await server.stop();
  });

  test(
    "a client that talks before the greeting gets 554 5.5.0 and is closed",
    TIMEOUT,
    async () => {
      const client = await RawClient.connect(server.port);
      await client.send("EHLO early.example");
      const reply = await client.reply();
      assert.equal(reply.length, 1, JSON.stringify(reply));
      assert.match(
        reply[0] as string,
        /^554 5\.5\.0 \S+ Protocol error: talked before the greeting$/,
      );
      await client.waitClosed();
      assert.match(server.output(), / reject conn=\S+ stage=greeting code=554/);
    },
  );

  test("a client that waits for greet_pause is greeted", TIMEOUT, async () => {
    const started = Date.now();
    const client = await RawClient.connect(server.port);
    assert.match((await client.reply())[0] as string, /^220 /);
    assert.ok(Date.now() - started >= 900, "the greeting waits for greet_pause");
    client.close();
  });

  test(
    "a HELO client that pipelines MAIL and RCPT gets 554 5.5.0 and is closed",
    TIMEOUT,
    async () => {
      const client = await transcript(
        server.port,
        `
      S: 220
      C: HELO old.example
      S: 250
    `,
      );
      await client.write("MAIL FROM:<a@old.example>\r\nRCPT TO:<alice@localhost>\r\n");
      const reply = await client.reply();
      assert.match(reply[0] as string, /^554 5\.5\.0 .*pipelining without PIPELINING$/);
      await client.waitClosed();
    },
  );

  test("an EHLO client may pipeline MAIL and RCPT", TIMEOUT, async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO new.example
      S: 250 HELP
      C: MAIL FROM:<a@new.example>
      C: RCPT TO:<alice@localhost>
      S: 250 2.1.0
      S: 250 2.1.5
      C: QUIT
      S: 221 2.0.0
    `,
    );
    await client.waitClosed();
  });

  test(
    "slowloris: a command trickled a byte every 300 ms gets 421 4.4.2 after command_timeout",
    TIMEOUT,
    async () => {
      const client = await transcript(server.port, "S: 220\nC: EHLO slow.example\nS: 250 HELP");
      const started = Date.now();
      // 31 bytes at 300 ms would take 9 s; every single wait is far below the idle timeout.
      const sending = trickle(client, "MAIL FROM:<slow@slow.example>\r\n", 300);
      const [last, ms] = await timedReply(client, started);
      assert.match(last, /^421 4\.4\.2 /);
      assert.ok(ms >= 1500 && ms < 4500, `421 after ${ms} ms, want about 2000`);
      await client.waitClosed();
      await sending;
    },
  );

  test(
    "slowloris: a DATA body trickled line by line gets 421 4.4.2 after data_timeout",
    TIMEOUT,
    async () => {
      const client = await transcript(
        server.port,
        `
        S: 220
        C: EHLO slow.example
        S: 250 HELP
        C: MAIL FROM:<slow@slow.example>
        C: RCPT TO:<alice@localhost>
        C: DATA
        S: 250 2.1.0
        S: 250 2.1.5
        S: 354
      `,
      );
      const started = Date.now();
      // Whole lines, each within command_timeout: only the phase deadline can stop this.
      const sending = trickle(client, "Subject: slow\r\n\r\n" + "x\r\n".repeat(30), 100);
      const [last, ms] = await timedReply(client, started);
      assert.match(last, /^421 4\.4\.2 /);
      assert.ok(ms >= 2500 && ms < 5500, `421 after ${ms} ms, want about 3000`);
      await client.waitClosed();
      await sending;
      assert.doesNotMatch(server.output(), / queued .*from=slow@slow\.example/);
    },
  );

  test(
    "a client that never reads its replies is cut off after write_timeout; others still get served",
    TIMEOUT,
    async () => {
      // It never reads again: our replies fill the kernel buffers, then the write stalls.
      const socket = await greetedSocket(server.port);
      socket.write("EHLO flood.example\r\n" + "NOOP\r\n".repeat(400_000));
      await server.waitFor(/ write_timeout conn=\S+/, 30_000);
      const conn = / write_timeout conn=(\S+)/.exec(server.output())?.[1];
      await server.waitFor(new RegExp(` disconnect conn=${conn} `));
      socket.destroy();
      await stillServes(server.port);
    },
  );
});

describe("rate_limit", () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      users: ["alice@localhost"],
      config: [
        `plugins = ["rate_limit"]`,
        "[plugin.rate_limit]",
        "connections_per_minute = 3",
        "messages_per_minute = 2",
      ].join("\n"),
    });
  });

  after(async () => {
    await server.stop();
  });

  test(
    "MAIL past messages_per_minute gets 452 4.7.0; the 4th connection gets 421 4.7.0",
    TIMEOUT,
    async () => {
      // Connection 1 of 3: two messages may start, the third is told to slow down.
      const first = await transcript(
        server.port,
        `
      S: 220
      C: EHLO busy.example
      S: 250 HELP
      C: MAIL FROM:<a@busy.example>
      S: 250 2.1.0
      C: RSET
      S: 250 2.0.0
      C: MAIL FROM:<a@busy.example>
      S: 250 2.1.0
      C: RSET
      S: 250 2.0.0
      C: MAIL FROM:<a@busy.example>
      S: 452 4.7.0 Too many messages, slow down
      C: QUIT
      S: 221
    `,
      );
      await first.waitClosed();
      for (let i = 2; i <= 3; i++) {
        const client = await transcript(server.port, "S: 220\nC: QUIT\nS: 221");
        await client.waitClosed();
      }
      const fourth = await RawClient.connect(server.port);
      assert.match((await fourth.reply())[0] as string, /^421 4\.7\.0 /);
      await fourth.waitClosed();
    },
  );
});

/** A raw socket that has read the greeting and then stopped reading. */
function greetedSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let text = "";
    socket.setEncoding("latin1");
    const onData = (chunk: string) => {
      text += chunk;
      if (/^220 .*\r\n/m.test(text)) {
        socket.off("data", onData);
        socket.pause();
        resolve(socket);
      }
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}
