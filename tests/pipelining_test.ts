/**
 * Wire tests for PIPELINING (RFC 2920): commands sent in one write get all
 * their replies, in order, and the replies to one read go out in one write.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { transcript } from "./helpers/smtp_client.ts";

/**
 * Every stored copy in a local mailbox, as text, once every message the
 * server queued so far has had its delivery attempt (delivery runs from the
 * spool after the 250 reply).
 */
async function mailbox(server: RunningServer, local: string): Promise<string[]> {
  await server.settled();
  const dir = join(server.dataDir, "mail", "localhost", local, "new");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((name) => readFileSync(join(dir, name), "latin1"));
}

/**
 * A raw socket that keeps every TCP read as its own chunk, so a test can
 * see how the server's replies were split on the wire.
 */
class ChunkSocket {
  readonly chunks: string[] = [];
  #socket: Socket;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.chunks.push(chunk);
      this.#wake?.();
    });
  }

  static open(port: number): Promise<ChunkSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.setNoDelay(true);
        resolve(new ChunkSocket(socket));
      });
      socket.once("error", reject);
    });
  }

  /** Sends `text` in a single write. */
  write(text: string): void {
    this.#socket.write(text, "latin1");
  }

  /** Final reply lines (`NNN ` lines) in chunks from `from` on. */
  replies(from = 0): string[] {
    const text = this.chunks.slice(from).join("");
    return text.split("\r\n").filter((line) => /^\d{3}( |$)/.test(line));
  }

  /** Waits until chunks from `from` on hold `count` complete replies. */
  async waitReplies(count: number, from = 0, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies(from).length < count) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`wanted ${count} replies, got ${JSON.stringify(this.chunks.slice(from))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.replies(from);
  }

  close(): void {
    this.#socket.destroy();
  }
}

describe("PIPELINING", () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      users: ["p1@localhost", "p2@localhost", "p3@localhost", "p4@localhost"],
    });
  });

  after(async () => {
    await server.stop();
  });

  test("a whole transaction in one write gets every reply, in order, and is stored", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      C: MAIL FROM:<pipe@client.test>
      C: RCPT TO:<p1@localhost>
      C: RCPT TO:<p2@localhost>
      C: RCPT TO:<p3@localhost>
      C: DATA
      S: 250 HELP
      S: 250 2.1.0
      S: 250 2.1.5
      S: 250 2.1.5
      S: 250 2.1.5
      S: 354
      C: Subject: pipelined-whole
      C:
      C: body
      C: .
      C: QUIT
      S: 250 2.0.0
      S: 221 2.0.0
    `,
    );
    await client.waitClosed();
    for (const local of ["p1", "p2", "p3"]) {
      const stored = (await mailbox(server, local)).filter((t) => t.includes("pipelined-whole"));
      assert.equal(stored.length, 1, local);
    }
  });

  test("the replies to a pipelined MAIL, RCPT×3, DATA group come back in one TCP chunk", async () => {
    const socket = await ChunkSocket.open(server.port);
    await socket.waitReplies(1);
    socket.write("EHLO client.test\r\n");
    await socket.waitReplies(2);
    const mark = socket.chunks.length;
    socket.write(
      "MAIL FROM:<chunk@client.test>\r\n" +
        "RCPT TO:<p1@localhost>\r\n" +
        "RCPT TO:<p2@localhost>\r\n" +
        "RCPT TO:<p4@localhost>\r\n" +
        "DATA\r\n",
    );
    // Nothing else is sent until all five replies are in.
    const replies = await socket.waitReplies(5, mark);
    const group = socket.chunks.slice(mark);
    console.log(`pipelined group: ${replies.length} replies in ${group.length} chunk(s)`);
    assert.deepEqual(replies.map((r) => r.slice(0, 9)), [
      "250 2.1.0",
      "250 2.1.5",
      "250 2.1.5",
      "250 2.1.5",
      "354 End d",
    ]);
    // The server answers the whole read with one write (RFC 2920 §3.1). A
    // loopback read of a 150-byte write is not split, so one chunk it is.
    assert.equal(group.length, 1, `chunks: ${JSON.stringify(group)}`);

    const next = socket.chunks.length;
    socket.write("Subject: pipelined-chunk\r\n\r\nbody\r\n.\r\nQUIT\r\n");
    const end = await socket.waitReplies(2, next);
    assert.match(end[0] as string, /^250 2\.0\.0 /);
    assert.match(end[1] as string, /^221 2\.0\.0 /);
    socket.close();
    for (const local of ["p1", "p2", "p4"]) {
      const stored = (await mailbox(server, local)).filter((t) => t.includes("pipelined-chunk"));
      assert.equal(stored.length, 1, local);
    }
  });

  test("a refused recipient in a pipelined group does not disturb the other replies", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: MAIL FROM:<mixed@client.test>
      C: RCPT TO:<nobody@localhost>
      C: RCPT TO:<p2@localhost>
      C: RCPT TO:<someone@remote.test>
      C: DATA
      S: 250 2.1.0
      S: 550 5.1.1
      S: 250 2.1.5
      S: 550 5.7.1
      S: 354
      C: Subject: pipelined-mixed
      C:
      C: x
      C: .
      S: 250 2.0.0
      C: QUIT
      S: 221
    `,
    );
    await client.waitClosed();
    assert.equal(
      (await mailbox(server, "p2")).filter((t) => t.includes("pipelined-mixed")).length,
      1,
    );
  });

  test("DATA after only refused recipients gets 503 and the text after it is read as commands", async () => {
    // RFC 2920 §3.1: the client must check the DATA reply; here it sent the
    // body anyway, so each line of it is a (bad) command, never a message.
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: MAIL FROM:<none@client.test>
      C: RCPT TO:<nobody@localhost>
      C: DATA
      C: RSET
      C: MAIL FROM:<again@client.test>
      C: RCPT TO:<p3@localhost>
      C: NOOP
      S: 250 2.1.0
      S: 550 5.1.1
      S: 503 5.5.1
      S: 250 2.0.0
      S: 250 2.1.0
      S: 250 2.1.5
      S: 250 2.0.0
      C: QUIT
      S: 221
    `,
    );
    await client.waitClosed();
  });

  test("RSET in a pipelined group resets the envelope between transactions", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      C: MAIL FROM:<first@client.test>
      C: RCPT TO:<p1@localhost>
      C: RSET
      C: RCPT TO:<p2@localhost>
      C: MAIL FROM:<second@client.test>
      C: RCPT TO:<p4@localhost>
      C: DATA
      S: 250
      S: 250 2.1.0
      S: 250 2.1.5
      S: 250 2.0.0
      S: 503 5.5.1
      S: 250 2.1.0
      S: 250 2.1.5
      S: 354
      C: Subject: pipelined-rset
      C:
      C: y
      C: .
      S: 250 2.0.0
    `,
    );
    client.close();
    const got = async (local: string) =>
      (await mailbox(server, local)).filter((t) => t.includes("pipelined-rset")).length;
    assert.equal(await got("p4"), 1);
    assert.equal(await got("p1"), 0);
    assert.equal(await got("p2"), 0);
  });
});
