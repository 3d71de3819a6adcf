/**
 * Wire tests for the session limits (RFC 5321 §4.5.3): line lengths,
 * recipients, message size, idle time, errors and connections. Each limit
 * has a clear reply and none of them takes the server down.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient } from "./helpers/smtp_client.ts";

const MAX_SIZE = 5000;

/**
 * Every stored copy in a local mailbox folder (`new` or `tmp`), as text, once
 * every message the server queued so far has had its delivery attempt
 * (delivery runs from the spool after the 250 reply).
 */
async function mailbox(server: RunningServer, local: string, folder = "new"): Promise<string[]> {
  await server.settled();
  const dir = join(server.dataDir, "mail", "localhost", local, folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((name) => readFileSync(join(dir, name), "latin1"));
}

/** How many sessions the server has logged as ended. */
function disconnects(server: RunningServer): number {
  return server.output().match(/ disconnect conn=/g)?.length ?? 0;
}

/** Waits until the server has logged more than `count` ended sessions. */
async function waitDisconnects(server: RunningServer, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (disconnects(server) <= count) {
    if (Date.now() > deadline) throw new Error(`no disconnect logged:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Opens a session that is ready for MAIL. */
async function ready(port: number, localAddress?: string): Promise<RawClient> {
  const client = localAddress
    ? await connectFrom(port, localAddress)
    : await RawClient.connect(port);
  assert.match((await client.reply())[0] as string, /^220 /);
  await client.send("EHLO client.test");
  assert.match((await client.reply()).at(-1) as string, /^250 /);
  return client;
}

/**
 * Connects from a given loopback address (127.0.0.0/8 is all local on
 * Linux), so one test can look like several client IPs. RawClient cannot
 * bind a local address, so this wraps a node:net socket with the same
 * methods.
 */
function connectFrom(port: number, localAddress: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, localAddress });
    socket.once("error", reject);
    socket.once("connect", () => resolve(wrap(socket)));
  });
}

/** Adapts a node:net socket to the small part of RawClient these tests use. */
function wrap(socket: import("node:net").Socket): RawClient {
  let buffer = "";
  let closed = false;
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => buffer += chunk);
  socket.on("close", () => closed = true);
  socket.on("error", () => closed = true);
  const client = {
    get closed() {
      return closed;
    },
    get unread() {
      return buffer;
    },
    write: (data: string) => new Promise<void>((r) => socket.write(data, "latin1", () => r())),
    send: (line: string) =>
      new Promise<void>((r) => socket.write(line + "\r\n", "latin1", () => r())),
    async reply(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = /^((?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n)/.exec(buffer);
        if (match) {
          buffer = buffer.slice(match[1]!.length);
          return match[1]!.split("\r\n").slice(0, -1);
        }
        if (closed) throw new Error(`connection closed; unread: ${JSON.stringify(buffer)}`);
        if (Date.now() > deadline) throw new Error(`no reply; unread: ${JSON.stringify(buffer)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async waitClosed(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!closed) {
        if (Date.now() > deadline) throw new Error("server did not close the connection");
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => socket.destroy(),
  };
  return client as unknown as RawClient;
}

/** A message of exactly `size` octets made of lines under 1000 octets. */
function messageOfSize(subject: string, size: number): string {
  let text = `Subject: ${subject}\r\n\r\n`;
  while (text.length + 100 <= size) text += "z".repeat(98) + "\r\n";
  const rest = size - text.length;
  assert.ok(rest >= 2);
  return text + "w".repeat(rest - 2) + "\r\n";
}

describe("limits with the defaults", () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      users: ["alice@localhost", "bob@localhost"],
      args: ["--max-message-size", String(MAX_SIZE)],
    });
  });

  after(async () => {
    await server.stop();
  });

  test("command line: 512 octets pass, 513 get 500 5.5.2 and the session goes on", async () => {
    const client = await ready(server.port);
    // NOOP ignores its argument; the line is 512 octets with CRLF.
    await client.send("NOOP " + "a".repeat(512 - 7));
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    await client.send("MAIL FROM:<" + "b".repeat(512) + "@client.test>");
    assert.match((await client.reply())[0] as string, /^500 5\.5\.2 /);
    await client.send("NOOP " + "a".repeat(512 - 6));
    assert.match((await client.reply())[0] as string, /^500 5\.5\.2 /);
    // The long MAIL opened nothing; a normal one works.
    await client.send("RCPT TO:<alice@localhost>");
    assert.match((await client.reply())[0] as string, /^503 5\.5\.1 /);
    await client.send("MAIL FROM:<a@client.test>");
    assert.match((await client.reply())[0] as string, /^250 2\.1\.0 /);
    client.close();
  });

  test("text line: 1000 octets pass, 1001 get 554 5.6.0 after the data and nothing is stored", async () => {
    const client = await ready(server.port);
    const send = async (subject: string, line: string) => {
      await client.send("MAIL FROM:<long@client.test>");
      await client.send("RCPT TO:<bob@localhost>");
      await client.send("DATA");
      assert.match((await client.reply())[0] as string, /^250 /);
      assert.match((await client.reply())[0] as string, /^250 /);
      assert.match((await client.reply())[0] as string, /^354 /);
      await client.write(`Subject: ${subject}\r\n\r\n${line}\r\nafter\r\n.\r\n`);
      return (await client.reply())[0] as string;
    };
    assert.match(await send("line-1000", "x".repeat(998)), /^250 2\.0\.0 /);
    assert.match(await send("line-1001", "x".repeat(999)), /^554 5\.6\.0 /);
    // A long line that fits the size limit but spans many 1000-octet units.
    assert.match(await send("line-long", "y".repeat(4500)), /^554 5\.6\.0 /);
    await client.send("NOOP");
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    client.close();
    const bob = await mailbox(server, "bob");
    assert.equal(bob.filter((t) => t.includes("line-1000")).length, 1);
    assert.equal(bob.filter((t) => t.includes("line-1001") || t.includes("line-long")).length, 0);
  });

  test("recipients: the 101st gets 452 4.5.3 and the first 100 still get the message", async () => {
    const client = await ready(server.port);
    const rcpts = Array.from({ length: 101 }, () => "RCPT TO:<alice@localhost> NOTIFY=NEVER")
      .map((line, i) => i % 2 ? line : "RCPT TO:<alice@localhost>");
    await client.write(["MAIL FROM:<many@client.test>", ...rcpts, "DATA", ""].join("\r\n"));
    assert.match((await client.reply())[0] as string, /^250 2\.1\.0 /);
    for (let i = 0; i < 100; i++) {
      assert.match((await client.reply())[0] as string, /^250 2\.1\.5 /, `recipient ${i + 1}`);
    }
    assert.match((await client.reply())[0] as string, /^452 4\.5\.3 /);
    assert.match((await client.reply())[0] as string, /^354 /);
    await client.write("Subject: hundred\r\n\r\nhi\r\n.\r\n");
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    client.close();
    assert.equal((await mailbox(server, "alice")).filter((t) => t.includes("hundred")).length, 1);
  });

  test("message size: exactly max_message_size passes, one octet more gets 552 5.3.4 after DATA", async () => {
    const client = await ready(server.port);
    for (
      const [subject, size] of [["size-exact", MAX_SIZE], ["size-over", MAX_SIZE + 1]] as const
    ) {
      await client.write("MAIL FROM:<size@client.test>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n");
      await client.reply();
      await client.reply();
      assert.match((await client.reply())[0] as string, /^354 /);
      await client.write(messageOfSize(subject, size) + ".\r\n");
      const answer = (await client.reply())[0] as string;
      if (size === MAX_SIZE) assert.match(answer, /^250 2\.0\.0 /);
      else assert.match(answer, /^552 5\.3\.4 /);
    }
    // Far over the limit: the rest is read and dropped, the session goes on.
    await client.write("MAIL FROM:<size@client.test>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n");
    await client.reply();
    await client.reply();
    await client.reply();
    await client.write(messageOfSize("size-huge", 200_000) + ".\r\n");
    assert.match((await client.reply())[0] as string, /^552 5\.3\.4 /);
    await client.send("NOOP");
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    client.close();
    const bob = await mailbox(server, "bob");
    assert.equal(bob.filter((t) => t.includes("size-exact")).length, 1);
    assert.equal(bob.filter((t) => t.includes("size-over") || t.includes("size-huge")).length, 0);
  });

  test("a 5 MB line without LF does not take the server down", async () => {
    const client = await ready(server.port);
    const block = "A".repeat(1024 * 1024);
    for (let i = 0; i < 5; i++) await client.write(block);
    await client.write("\r\n");
    assert.match((await client.reply(30_000))[0] as string, /^500 5\.5\.2 /);
    await client.send("NOOP");
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    // The same inside DATA: the size limit answers, the session goes on.
    await client.write("MAIL FROM:<big@client.test>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n");
    await client.reply();
    await client.reply();
    assert.match((await client.reply())[0] as string, /^354 /);
    for (let i = 0; i < 5; i++) await client.write(block);
    await client.write("\r\n.\r\n");
    assert.match((await client.reply(30_000))[0] as string, /^552 5\.3\.4 /);
    await client.send("NOOP");
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    // And once more, this time leaving without ever ending the line.
    for (let i = 0; i < 5; i++) await client.write(block);
    client.close();
    const fresh = await ready(server.port);
    await fresh.send("NOOP");
    assert.match((await fresh.reply())[0] as string, /^250 2\.0\.0 /);
    fresh.close();
  });

  test("EOF in the middle of DATA leaves no file behind", async () => {
    const before = disconnects(server);
    const client = await ready(server.port);
    await client.write("MAIL FROM:<eof@client.test>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n");
    await client.reply();
    await client.reply();
    assert.match((await client.reply())[0] as string, /^354 /);
    await client.write("Subject: eof-mid-data\r\n\r\nhalf a message\r\n");
    client.close();
    await waitDisconnects(server, before);
    const fresh = await ready(server.port);
    await fresh.send("NOOP");
    assert.match((await fresh.reply())[0] as string, /^250 2\.0\.0 /);
    fresh.close();
    for (const folder of ["new", "tmp", "cur"]) {
      const files = await mailbox(server, "alice", folder);
      assert.equal(files.filter((t) => t.includes("eof-mid-data")).length, 0, folder);
    }
    assert.equal((await mailbox(server, "alice", "tmp")).length, 0);
  });
});

describe("limits from the config file", () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      users: ["carol@localhost"],
      config: "max_recipients = 3\nmax_errors = 3\n",
    });
  });

  after(async () => {
    await server.stop();
  });

  test("max_recipients = 3: the 4th recipient gets 452 4.5.3", async () => {
    const client = await ready(server.port);
    await client.write(
      "MAIL FROM:<few@client.test>\r\n" +
        "RCPT TO:<carol@localhost>\r\n".repeat(3) + "RCPT TO:<postmaster@localhost>\r\n",
    );
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) codes.push(((await client.reply())[0] as string).slice(0, 9));
    assert.deepEqual(codes, ["250 2.1.0", "250 2.1.5", "250 2.1.5", "250 2.1.5", "452 4.5.3"]);
    client.close();
  });

  test("max_errors = 3: the third error is followed by 421 and the connection closes", async () => {
    const client = await ready(server.port);
    await client.send("FROB");
    assert.match((await client.reply())[0] as string, /^500 5\.5\.1 /);
    await client.send("RCPT TO:<carol@localhost>");
    assert.match((await client.reply())[0] as string, /^503 5\.5\.1 /);
    assert.equal(client.closed, false);
    await client.send("MAIL FROM:broken");
    assert.match((await client.reply())[0] as string, /^501 5\.5\.2 /);
    assert.match((await client.reply())[0] as string, /^421 4\.7\.0 /);
    await client.waitClosed();
  });
});

describe("idle timeout", () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ users: ["carol@localhost"], config: "idle_timeout = 1\n" });
  });

  after(async () => {
    await server.stop();
  });

  test("idle_timeout = 1: a silent client gets 421 4.4.2 and is disconnected", async () => {
    const client = await RawClient.connect(server.port);
    assert.match((await client.reply())[0] as string, /^220 /);
    assert.match((await client.reply(10_000))[0] as string, /^421 4\.4\.2 /);
    await client.waitClosed();
  });

  test("idle_timeout = 1: a client silent in the middle of DATA is cut and nothing is stored", async () => {
    const client = await ready(server.port);
    await client.write("MAIL FROM:<idle@client.test>\r\nRCPT TO:<carol@localhost>\r\nDATA\r\n");
    await client.reply();
    await client.reply();
    assert.match((await client.reply())[0] as string, /^354 /);
    await client.write("Subject: idle-data\r\n\r\nstarted");
    assert.match((await client.reply(10_000))[0] as string, /^421 4\.4\.2 /);
    await client.waitClosed();
    assert.equal((await mailbox(server, "carol")).filter((t) => t.includes("idle-data")).length, 0);
  });
});

describe("connection limits", () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      config: "max_connections = 3\nmax_connections_per_ip = 2\n",
    });
  });

  after(async () => {
    await server.stop();
  });

  test("max_connections_per_ip = 2 and max_connections = 3: the one over each gets 421 4.7.0", async () => {
    const held = [await ready(server.port, "127.0.0.1"), await ready(server.port, "127.0.0.1")];

    // A third connection from the same address is refused...
    const sameIp = await connectFrom(server.port, "127.0.0.1");
    assert.match((await sameIp.reply())[0] as string, /^421 4\.7\.0 .*your address/);
    await sameIp.waitClosed();

    // ...but another address still gets in, up to the total.
    held.push(await ready(server.port, "127.0.0.2"));
    const overTotal = await connectFrom(server.port, "127.0.0.3");
    assert.match((await overTotal.reply())[0] as string, /^421 4\.7\.0 /);
    await overTotal.waitClosed();

    // The held sessions are unaffected.
    for (const client of held) {
      await client.send("NOOP");
      assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    }

    // Once they leave, new connections are welcome again.
    const before = disconnects(server);
    for (const client of held) {
      await client.send("QUIT");
      await client.reply();
      client.close();
    }
    while (disconnects(server) < before + held.length) await waitDisconnects(server, before);
    const again = await ready(server.port, "127.0.0.1");
    await again.send("QUIT");
    assert.match((await again.reply())[0] as string, /^221 /);
    again.close();
  });
});
