/**
 * Wire tests for SMTP smuggling (only `CRLF . CRLF` ends DATA, RFC 5321
 * §4.1.1.4 and §2.3.8), NUL in commands, and exact dot-unstuffing on disk.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient } from "./helpers/smtp_client.ts";

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

/** The message bytes as stored: everything after the Received field. */
function afterReceived(text: string): string {
  const match =
    /^Return-Path: [^\r\n]*\r\nDelivered-To: [^\r\n]*\r\nReceived: [^\r\n]*(?:\r\n\t[^\r\n]*)*\r\n/
      .exec(text);
  assert.ok(match, `no trace headers in ${JSON.stringify(text.slice(0, 300))}`);
  return text.slice(match[0].length);
}

/** Opens a session that is ready for MAIL. */
async function ready(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  assert.match((await client.reply())[0] as string, /^220 /);
  await client.send("EHLO client.test");
  assert.match((await client.reply()).at(-1) as string, /^250 /);
  return client;
}

/** Runs MAIL, RCPT and DATA up to the 354 reply. */
async function openData(client: RawClient, rcpt: string): Promise<void> {
  await client.send("MAIL FROM:<sender@client.test>");
  assert.match((await client.reply())[0] as string, /^250 2\.1\.0 /);
  await client.send(`RCPT TO:<${rcpt}>`);
  assert.match((await client.reply())[0] as string, /^250 2\.1\.5 /);
  await client.send("DATA");
  assert.match((await client.reply())[0] as string, /^354 /);
}

/**
 * Sends `payload` after DATA followed by `HELP NOOP`, and returns every reply
 * up to and including the HELP answer. Smuggled commands that ran would show
 * up as extra replies between the two.
 */
async function sendAndCollect(client: RawClient, payload: string): Promise<string[]> {
  await client.write(Buffer.from(payload + "HELP NOOP\r\n", "latin1"));
  const replies: string[] = [];
  for (;;) {
    const lines = await client.reply();
    replies.push(lines.join("\n"));
    if (/^214 /.test(lines.at(-1) as string) || replies.length > 10) break;
  }
  // Anything pending would have come in the same flush as the HELP reply.
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(client.unread, "", "no further replies");
  return replies;
}

/** The smuggled transaction that must never run. */
function smuggled(tag: string): string {
  return "MAIL FROM:<evil@client.test>\r\n" +
    "RCPT TO:<victim@localhost>\r\n" +
    "DATA\r\n" +
    `Subject: smuggled-${tag}\r\n\r\nevil\r\n`;
}

const VARIANTS: [string, string][] = [
  ["\\n.\\n", "\n.\n"],
  ["\\n.\\r\\n", "\n.\r\n"],
  ["\\r\\n.\\n", "\r\n.\n"],
  ["\\r.\\r\\n", "\r.\r\n"],
  ["\\r\\n.\\r", "\r\n.\r"],
];

describe("SMTP smuggling, default bare_lf = reject", () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({ users: ["alice@localhost", "victim@localhost"] });
  });

  after(async () => {
    // Nothing smuggled ever reached the victim, in any test of this group.
    const victim = await mailbox(server, "victim");
    await server.stop();
    assert.deepEqual(victim, []);
  });

  for (const [index, [name, terminator]] of VARIANTS.entries()) {
    test(`DATA: "${name}" then commands gets one 550 5.5.2 and runs none of them`, async () => {
      const tag = `reject-${index}`;
      const client = await ready(server.port);
      await openData(client, "alice@localhost");
      const payload = `Subject: outer-${tag}\r\n\r\nhello` + terminator + smuggled(tag) + ".\r\n";
      const replies = await sendAndCollect(client, payload);
      assert.equal(replies.length, 2, JSON.stringify(replies));
      assert.match(replies[0] as string, /^550 5\.5\.2 /);
      assert.match(replies[1] as string, /^214 2\.0\.0 NOOP/);

      // The session is still usable: a clean message goes through.
      await openData(client, "alice@localhost");
      await client.write(`Subject: after-${tag}\r\n\r\nclean\r\n.\r\n`);
      assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
      await client.send("QUIT");
      assert.match((await client.reply())[0] as string, /^221 /);
      client.close();

      const alice = await mailbox(server, "alice");
      assert.equal(alice.filter((t) => t.includes(`outer-${tag}`)).length, 0);
      assert.equal(alice.filter((t) => t.includes(`smuggled-${tag}`)).length, 0);
      assert.equal(alice.filter((t) => t.includes(`after-${tag}`)).length, 1);
      assert.deepEqual(await mailbox(server, "victim"), []);
    });
  }

  test("DATA: smuggling bytes split over many small writes still give one 550 5.5.2", async () => {
    const client = await ready(server.port);
    await openData(client, "alice@localhost");
    const payload = "Subject: split-smuggle\r\n\r\nhello\n.\n" + smuggled("split") + ".\r\n";
    // Cut around every terminator byte so the reader sees them at read edges.
    for (const piece of payload.match(/[\r\n.]|[^\r\n.]+/g) ?? []) {
      await client.write(piece);
      await new Promise((r) => setTimeout(r, 2));
    }
    await client.send("HELP NOOP");
    assert.match((await client.reply())[0] as string, /^550 5\.5\.2 /);
    assert.match((await client.reply())[0] as string, /^214 2\.0\.0 NOOP/);
    client.close();
    assert.deepEqual(await mailbox(server, "victim"), []);
  });

  test("DATA: a real CRLF.CRLF split across writes ends the message once", async () => {
    const client = await ready(server.port);
    await openData(client, "alice@localhost");
    for (const piece of ["Subject: split-end\r\n\r\nbody\r", "\n", ".", "\r", "\n"]) {
      await client.write(piece);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    client.close();
    const stored = (await mailbox(server, "alice")).filter((t) => t.includes("split-end"));
    assert.equal(stored.length, 1);
    assert.equal(afterReceived(stored[0] as string), "Subject: split-end\r\n\r\nbody\r\n");
  });

  test("commands: a NUL byte in a command line gets 500 5.5.2 and the session goes on", async () => {
    const client = await ready(server.port);
    await client.write("MAIL FROM:<a@client.test>\x00\r\n");
    assert.match((await client.reply())[0] as string, /^500 5\.5\.2 /);
    await client.write("NO\x00OP\r\n");
    assert.match((await client.reply())[0] as string, /^500 5\.5\.2 /);
    // The refused MAIL opened no transaction.
    await client.send("RCPT TO:<alice@localhost>");
    assert.match((await client.reply())[0] as string, /^503 5\.5\.1 /);
    await client.send("NOOP");
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    client.close();
  });

  test("DATA: dot-unstuffing is exact on disk", async () => {
    const lines = [
      "Subject: unstuff",
      "",
      ".",
      "..",
      "...",
      ".x",
      "..x",
      " .",
      ". ",
      ".\t",
      "a.",
      "",
      ".",
    ];
    const sent = lines.map((l) => l + "\r\n").join("");
    const wire = lines.map((l) => (l.startsWith(".") ? "." : "") + l + "\r\n").join("") +
      ".\r\n";
    const client = await ready(server.port);
    await openData(client, "alice@localhost");
    await client.write(wire);
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    client.close();
    const stored = (await mailbox(server, "alice")).filter((t) => t.includes("Subject: unstuff"));
    assert.equal(stored.length, 1);
    assert.equal(afterReceived(stored[0] as string), sent);
  });

  test("DATA: an empty message is stored as the trace headers alone", async () => {
    const client = await ready(server.port);
    await client.send("MAIL FROM:<empty-message@client.test>");
    await client.reply();
    await client.send("RCPT TO:<alice@localhost>");
    await client.reply();
    await client.send("DATA");
    assert.match((await client.reply())[0] as string, /^354 /);
    await client.write(".\r\n");
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    client.close();
    const stored = (await mailbox(server, "alice"))
      .filter((t) => t.startsWith("Return-Path: <empty-message@client.test>"));
    assert.equal(stored.length, 1);
    assert.equal(afterReceived(stored[0] as string), "");
  });
});

describe('SMTP smuggling, bare_lf = "normalize"', () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      users: ["alice@localhost", "victim@localhost"],
      config: 'bare_lf = "normalize"\n',
    });
  });

  after(async () => {
    const victim = await mailbox(server, "victim");
    await server.stop();
    assert.deepEqual(victim, []);
  });

  test("DATA: a bare-LF message is accepted and stored with CRLF line ends", async () => {
    const client = await ready(server.port);
    await openData(client, "alice@localhost");
    await client.write(
      "Subject: bare-lf\nX-Mixed: yes\r\n\nline one\nline two\r\n..dot\n\r\n.\r\n",
    );
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    client.close();
    const stored = (await mailbox(server, "alice")).filter((t) => t.includes("bare-lf"));
    assert.equal(stored.length, 1);
    assert.equal(
      afterReceived(stored[0] as string),
      "Subject: bare-lf\r\nX-Mixed: yes\r\n\r\nline one\r\nline two\r\n.dot\r\n\r\n",
    );
  });

  for (const [index, [name, terminator]] of VARIANTS.slice(0, 3).entries()) {
    test(`DATA: "${name}" does not end the message; the text after it stays message text`, async () => {
      const tag = `normalize-${index}`;
      const client = await ready(server.port);
      await openData(client, "alice@localhost");
      const payload = `Subject: outer-${tag}\r\n\r\nhello` + terminator + smuggled(tag) + ".\r\n";
      const replies = await sendAndCollect(client, payload);
      assert.equal(replies.length, 2, JSON.stringify(replies));
      assert.match(replies[0] as string, /^250 2\.0\.0 /);
      assert.match(replies[1] as string, /^214 2\.0\.0 NOOP/);
      client.close();

      const stored = (await mailbox(server, "alice")).filter((t) => t.includes(`outer-${tag}`));
      assert.equal(stored.length, 1);
      const body = afterReceived(stored[0] as string);
      assert.ok(body.startsWith(`Subject: outer-${tag}\r\n\r\nhello\r\n`), JSON.stringify(body));
      assert.ok(body.endsWith(smuggled(tag)), JSON.stringify(body));
      assert.doesNotMatch(body, /[^\r]\n|\r[^\n]/, "only CRLF line ends are stored");
      assert.deepEqual(await mailbox(server, "victim"), []);
    });
  }

  for (const [name, terminator] of VARIANTS.slice(3)) {
    test(`DATA: "${name}" (bare CR) is still refused with 550 5.5.2`, async () => {
      const client = await ready(server.port);
      await openData(client, "alice@localhost");
      const payload = "Subject: outer-cr\r\n\r\nhello" + terminator + smuggled("cr") + ".\r\n";
      const replies = await sendAndCollect(client, payload);
      assert.equal(replies.length, 2, JSON.stringify(replies));
      assert.match(replies[0] as string, /^550 5\.5\.2 /);
      client.close();
      assert.deepEqual(await mailbox(server, "victim"), []);
    });
  }
});
