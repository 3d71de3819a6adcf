/**
 * Wire tests for CHUNKING/BDAT (RFC 3030): chunks are taken as exact bytes,
 * always read even when refused, and the stored message is byte for byte
 * what was sent.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient } from "./helpers/smtp_client.ts";

const MAX_SIZE = 2000;

/**
 * Every stored copy in a local mailbox, as latin1 text (one char per byte),
 * once every message the server queued so far has had its delivery attempt
 * (delivery runs from the spool after the 250 reply).
 */
async function mailbox(server: RunningServer, local: string): Promise<string[]> {
  await server.settled();
  const dir = join(server.dataDir, "mail", "localhost", local, "new");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((name) => readFileSync(join(dir, name)).toString("latin1"));
}

/** The message as stored after the Return-Path, Delivered-To and Received fields. */
function afterTrace(text: string): string {
  const match =
    /^Return-Path: [^\r\n]*\r\nDelivered-To: [^\r\n]*\r\nReceived: [^\r\n]*(?:\r\n\t[^\r\n]*)*\r\n/
      .exec(text);
  assert.ok(match, `no trace headers in ${JSON.stringify(text.slice(0, 300))}`);
  return text.slice(match[0].length);
}

/** The copies in `local`'s mailbox whose text contains `marker`. */
async function stored(server: RunningServer, local: string, marker: string): Promise<string[]> {
  return (await mailbox(server, local)).filter((t) => t.includes(marker));
}

/** A BDAT command with its chunk (latin1, one char per byte). */
function bdat(chunk: string, last = false): string {
  return `BDAT ${chunk.length}${last ? " LAST" : ""}\r\n${chunk}`;
}

/** Opens a session that is ready for MAIL. */
async function ready(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  await client.reply();
  await client.send("EHLO client.test");
  const ehlo = await client.reply();
  assert.ok(ehlo.includes("250-CHUNKING"), JSON.stringify(ehlo));
  return client;
}

/** Sends `text` in one write and reads `count` replies (their first lines). */
async function exchange(client: RawClient, text: string, count: number): Promise<string[]> {
  await client.write(text);
  const replies: string[] = [];
  for (let i = 0; i < count; i++) replies.push((await client.reply())[0] as string);
  return replies;
}

describe("BDAT", () => {
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

  test("BDAT: chunks with binary, bare LF, bare CR and a lone dot are stored byte for byte", async () => {
    const bytes = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
    const chunks = [
      "Subject: bdat-binary\r\n\r\n",
      "bare\nLF and bare\rCR\r\n.\r\n..\r\n",
      bytes,
      "\r\nend without CRLF",
    ];
    const client = await ready(server.port);
    const replies = await exchange(
      client,
      "MAIL FROM:<bin@client.test>\r\nRCPT TO:<alice@localhost>\r\n" +
        bdat(chunks[0] as string) + bdat(chunks[1] as string) + bdat(chunks[2] as string) +
        bdat(chunks[3] as string, true),
      6,
    );
    assert.match(replies[0] as string, /^250 2\.1\.0 /);
    assert.match(replies[1] as string, /^250 2\.1\.5 /);
    assert.deepEqual(replies.slice(2, 5), [
      `250 2.0.0 ${chunks[0]?.length} octets received`,
      `250 2.0.0 ${chunks[1]?.length} octets received`,
      "250 2.0.0 256 octets received",
    ]);
    assert.match(replies[5] as string, /^250 2\.0\.0 .*queued/);
    client.close();
    const copies = await stored(server, "alice", "bdat-binary");
    assert.equal(copies.length, 1);
    assert.equal(afterTrace(copies[0] as string), chunks.join(""));
    assert.match(copies[0] as string, /with ESMTP id /);
  });

  test("BDAT 0 LAST ends a message, and several BDAT transactions share one session", async () => {
    const client = await ready(server.port);
    const replies = await exchange(
      client,
      "MAIL FROM:<zero@client.test>\r\nRCPT TO:<bob@localhost>\r\n" +
        bdat("Subject: bdat-zero-1\r\n\r\none\r\n") + "BDAT 0 LAST\r\n" +
        "MAIL FROM:<zero@client.test>\r\nRCPT TO:<bob@localhost>\r\n" +
        bdat("Subject: bdat-zero-2\r\n\r\ntwo\r\n", true) +
        "MAIL FROM:<zero@client.test>\r\nRCPT TO:<bob@localhost>\r\nBDAT 0 LAST\r\n" +
        "QUIT\r\n",
      11,
    );
    assert.deepEqual(replies.map((r) => r.slice(0, 9)), [
      "250 2.1.0",
      "250 2.1.5",
      "250 2.0.0",
      "250 2.0.0",
      "250 2.1.0",
      "250 2.1.5",
      "250 2.0.0",
      "250 2.1.0",
      "250 2.1.5",
      "250 2.0.0",
      "221 2.0.0",
    ]);
    assert.match(replies[3] as string, /queued as (\S+)/);
    assert.match(replies[6] as string, /queued as (\S+)/);
    assert.match(replies[9] as string, /queued as (\S+)/);
    client.close();
    const one = await stored(server, "bob", "bdat-zero-1");
    const two = await stored(server, "bob", "bdat-zero-2");
    assert.equal(one.length, 1);
    assert.equal(two.length, 1);
    assert.equal(afterTrace(one[0] as string), "Subject: bdat-zero-1\r\n\r\none\r\n");
    assert.equal(afterTrace(two[0] as string), "Subject: bdat-zero-2\r\n\r\ntwo\r\n");
    const queueId = /queued as (\S+)/.exec(replies[9] as string)?.[1] as string;
    const empty = (await mailbox(server, "bob")).filter((t) => t.includes(` id ${queueId}\r\n`));
    assert.equal(empty.length, 1, "the empty BDAT 0 LAST message is stored");
    assert.equal(afterTrace(empty[0] as string), "");
  });

  test("BDAT before RCPT gets 503 after its chunk is read, and the stream stays in step", async () => {
    const client = await ready(server.port);
    // The chunks look like commands; had they been read as such, extra replies would show.
    const fake = "MAIL FROM:<fake@client.test>\r\nRCPT TO:<alice@localhost>\r\n";
    const replies = await exchange(
      client,
      bdat(fake) +
        "MAIL FROM:<early@client.test>\r\n" +
        bdat(fake, true) +
        "RCPT TO:<alice@localhost>\r\n" +
        "HELP NOOP\r\n",
      5,
    );
    assert.match(replies[0] as string, /^503 5\.5\.1 /);
    assert.match(replies[1] as string, /^250 2\.1\.0 /);
    assert.match(replies[2] as string, /^503 5\.5\.1 /);
    assert.match(replies[3] as string, /^250 2\.1\.5 /);
    assert.match(replies[4] as string, /^214 2\.0\.0 NOOP/);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(client.unread, "");
    // The transaction opened above still works.
    const done = await exchange(client, bdat("Subject: bdat-after-503\r\n\r\nok\r\n", true), 1);
    assert.match(done[0] as string, /^250 2\.0\.0 /);
    client.close();
    assert.equal((await stored(server, "alice", "bdat-after-503")).length, 1);
    assert.equal((await stored(server, "alice", "fake@client.test")).length, 0);
  });

  test("DATA after BDAT gets 503 5.5.1 and the BDAT transfer can still finish", async () => {
    const client = await ready(server.port);
    const replies = await exchange(
      client,
      "MAIL FROM:<mix@client.test>\r\nRCPT TO:<bob@localhost>\r\n" +
        bdat("Subject: bdat-then-data\r\n\r\n") +
        "DATA\r\n" +
        "MAIL FROM:<other@client.test>\r\n" +
        bdat("part two\r\n", true),
      6,
    );
    assert.match(replies[0] as string, /^250 2\.1\.0 /);
    assert.match(replies[1] as string, /^250 2\.1\.5 /);
    assert.match(replies[2] as string, /^250 2\.0\.0 /);
    assert.match(replies[3] as string, /^503 5\.5\.1 /);
    assert.match(replies[4] as string, /^503 5\.5\.1 /);
    assert.match(replies[5] as string, /^250 2\.0\.0 .*queued/);
    client.close();
    const copies = await stored(server, "bob", "bdat-then-data");
    assert.equal(copies.length, 1);
    assert.equal(afterTrace(copies[0] as string), "Subject: bdat-then-data\r\n\r\npart two\r\n");
  });

  test("BDAT over max_message_size gets 552 5.3.4, stores nothing and the session goes on", async () => {
    const client = await ready(server.port);
    const half = "Subject: bdat-too-big\r\n\r\n" + "x".repeat(MAX_SIZE / 2 + 10);
    const replies = await exchange(
      client,
      "MAIL FROM:<big@client.test>\r\nRCPT TO:<alice@localhost>\r\n" +
        bdat(half) + bdat(half, true) + "HELP NOOP\r\n",
      5,
    );
    assert.match(replies[0] as string, /^250 2\.1\.0 /);
    assert.match(replies[1] as string, /^250 2\.1\.5 /);
    const chunkReplies = replies.slice(2, 4);
    assert.ok(
      chunkReplies.some((r) => /^552 5\.3\.4 /.test(r)),
      `no 552 5.3.4 in ${JSON.stringify(chunkReplies)}`,
    );
    assert.ok(chunkReplies.every((r) => !/queued/.test(r)), JSON.stringify(chunkReplies));
    assert.match(replies[4] as string, /^214 2\.0\.0 NOOP/);

    // A message exactly at the limit is accepted.
    const exact = "Subject: bdat-at-limit\r\n\r\n";
    const fill = exact + "y".repeat(MAX_SIZE - exact.length);
    const ok = await exchange(
      client,
      "MAIL FROM:<big@client.test>\r\nRCPT TO:<alice@localhost>\r\n" + bdat(fill, true),
      3,
    );
    assert.match(ok[2] as string, /^250 2\.0\.0 .*queued/);
    client.close();
    assert.equal((await stored(server, "alice", "bdat-too-big")).length, 0);
    assert.equal((await stored(server, "alice", "bdat-at-limit")).length, 1);
  });

  test("BDAT syntax: a missing or bad size gets 501 5.5.4", async () => {
    const client = await ready(server.port);
    const replies = await exchange(
      client,
      "BDAT\r\nBDAT x\r\nBDAT 5 NOTLAST\r\nBDAT -1\r\nNOOP\r\n",
      5,
    );
    assert.deepEqual(replies.slice(0, 4).map((r) => r.slice(0, 9)), [
      "501 5.5.4",
      "501 5.5.4",
      "501 5.5.4",
      "501 5.5.4",
    ]);
    assert.match(replies[4] as string, /^250 2\.0\.0 /);
    client.close();
  });

  test("BDAT: chunks split across many writes are reassembled exactly", async () => {
    const client = await ready(server.port);
    await client.write("MAIL FROM:<slow@client.test>\r\nRCPT TO:<bob@localhost>\r\n");
    await client.reply();
    await client.reply();
    const body = "Subject: bdat-split\r\n\r\n" + "0123456789\r\n".repeat(20);
    await client.write(`BDAT ${body.length} LAST\r\n`);
    for (let at = 0; at < body.length; at += 37) {
      await client.write(body.slice(at, at + 37));
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 .*queued/);
    client.close();
    const copies = await stored(server, "bob", "bdat-split");
    assert.equal(copies.length, 1);
    assert.equal(afterTrace(copies[0] as string), body);
  });
});
