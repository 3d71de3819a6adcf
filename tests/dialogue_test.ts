/**
 * Wire tests: whole SMTP dialogues against the real server, written as
 * readable `C:`/`S:` transcripts (RFC 5321 and its extensions).
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient, transcript } from "./helpers/smtp_client.ts";

const HOST = "mx.dialogue.test";

/**
 * The files in the `new/` folder of a local mailbox, once every message the
 * server queued so far has had its delivery attempt (delivery runs from the
 * spool after the 250 reply).
 */
async function maildirFiles(
  server: RunningServer,
  domain: string,
  local: string,
): Promise<string[]> {
  await server.settled();
  const dir = join(server.dataDir, "mail", domain, local, "new");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((name) => join(dir, name));
}

/** Reads every stored copy for a mailbox, as latin1 text (byte per char). */
async function maildirTexts(
  server: RunningServer,
  domain: string,
  local: string,
): Promise<string[]> {
  return (await maildirFiles(server, domain, local)).map((f) => readFileSync(f).toString("latin1"));
}

/** Finds the one stored copy whose text contains `marker`. */
async function storedWith(server: RunningServer, local: string, marker: string): Promise<string[]> {
  return (await maildirTexts(server, "localhost", local)).filter((t) => t.includes(marker));
}

/** Sends one command and returns the reply lines. */
async function ask(client: RawClient, line: string): Promise<string[]> {
  await client.send(line);
  return await client.reply();
}

describe("SMTP dialogues", () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      users: ["alice@localhost", "bob@localhost", "carol@localhost", "dora@localhost"],
      args: ["--hostname", HOST, "--max-message-size", "100000"],
    });
  });

  after(async () => {
    await server.stop();
  });

  test("greeting: says 220 <hostname> ESMTP Postino", async () => {
    const client = await RawClient.connect(server.port);
    const greeting = await client.reply();
    assert.deepEqual(greeting, [`220 ${HOST} ESMTP Postino`]);
    client.close();
  });

  test("EHLO: lists PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, CHUNKING, DSN", async () => {
    const client = await RawClient.connect(server.port);
    await client.reply();
    const lines = await ask(client, "EHLO client.test");
    assert.match(lines[0] as string, new RegExp(`^250-${HOST.replaceAll(".", "\\.")} `));
    const keywords = lines.slice(1).map((l) => l.slice(4));
    for (
      const want of [
        "PIPELINING",
        "SIZE 100000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "DSN",
      ]
    ) {
      assert.ok(keywords.includes(want), `EHLO lacks ${want}: ${JSON.stringify(lines)}`);
    }
    assert.match(lines[lines.length - 1] as string, /^250 /);
    assert.ok(lines.slice(0, -1).every((l) => l.startsWith("250-")));
    client.close();
  });

  test("HELO: answers 250 and opens a plain SMTP session", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: HELO client.test
      S: 250 ${HOST}
      C: MAIL FROM:<a@client.test>
      S: 250 2.1.0
      # ESMTP parameters need EHLO
      C: RCPT TO:<alice@localhost> NOTIFY=NEVER
      S: 555 5.5.4
      C: QUIT
      S: 221 2.0.0
    `,
    );
    await client.waitClosed();
  });

  test("command order: MAIL, RCPT and DATA out of sequence get 503 5.5.1", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: MAIL FROM:<a@client.test>
      S: 503 5.5.1
      C: RCPT TO:<alice@localhost>
      S: 503 5.5.1
      C: DATA
      S: 503 5.5.1
      C: EHLO client.test
      S: 250
      C: RCPT TO:<alice@localhost>
      S: 503 5.5.1
      C: DATA
      S: 503 5.5.1
      C: MAIL FROM:<a@client.test>
      S: 250 2.1.0
      C: DATA
      S: 503 5.5.1
      C: MAIL FROM:<b@client.test>
      S: /^503 5\\.5\\.1 .*[Nn]ested/
      C: QUIT
      S: 221
    `,
    );
    client.close();
  });

  test("syntax: unknown verb 500 5.5.1, no brackets 501 5.5.2, bad address 501, unknown param 555 5.5.4", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: FROB something
      S: 500 5.5.1
      C: MAIL FROM:a@client.test
      S: 501 5.5.2
      C: MAIL FROM:<not an address>
      S: /^501 5\\.\\d\\.\\d /
      C: MAIL FROM:<a@@client.test>
      S: /^501 5\\.\\d\\.\\d /
      C: MAIL FROM:<a@client.test> FROBNICATE=yes
      S: 555 5.5.4
      C: MAIL FROM:<a@client.test>
      S: 250 2.1.0
      C: RCPT TO:alice@localhost
      S: 501 5.5.2
      C: RCPT TO:<alice@>
      S: /^501 5\\.\\d\\.\\d /
      C: RCPT TO:<alice@localhost> FROBNICATE
      S: 555 5.5.4
      C: QUIT
      S: 221
    `,
    );
    client.close();
  });

  test("SIZE: a declared size over the limit gets 552 5.3.4, one under it 250", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: MAIL FROM:<a@client.test> SIZE=100001
      S: 552 5.3.4
      C: MAIL FROM:<a@client.test> SIZE=99999
      S: 250 2.1.0
      C: QUIT
      S: 221
    `,
    );
    client.close();
  });

  test("RSET: ends the transaction so RCPT needs a new MAIL", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: MAIL FROM:<a@client.test>
      S: 250 2.1.0
      C: RCPT TO:<alice@localhost>
      S: 250 2.1.5
      C: RSET
      S: 250 2.0.0
      C: RCPT TO:<alice@localhost>
      S: 503 5.5.1
      C: DATA
      S: 503 5.5.1
      C: MAIL FROM:<a@client.test>
      S: 250 2.1.0
      C: NOOP
      S: 250 2.0.0
      C: QUIT
      S: 221 2.0.0
    `,
    );
    client.close();
  });

  test("HELP: 214 lists the commands, HELP MAIL gives its usage line", async () => {
    const client = await RawClient.connect(server.port);
    await client.reply();
    await ask(client, "EHLO client.test");
    const all = await ask(client, "HELP");
    assert.ok(all.every((l) => /^214[- ]2\.0\.0 /.test(l)), JSON.stringify(all));
    const words = all.join(" ").split(/\s+/);
    for (const verb of ["HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT"]) {
      assert.ok(words.includes(verb), `HELP lacks ${verb}: ${JSON.stringify(all)}`);
    }
    const mail = await ask(client, "HELP MAIL");
    assert.equal(mail.length, 1);
    assert.match(mail[0] as string, /^214 2\.0\.0 MAIL FROM:<address>/);
    const unknown = await ask(client, "HELP FROB");
    assert.match(unknown[0] as string, /^504 5\.5\.1 /);
    client.close();
  });

  test("VRFY answers 252 2.5.0; EXPN, TURN, SEND, SOML and SAML answer 502 5.5.1", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: VRFY alice
      S: 252 2.5.0
      C: EXPN staff
      S: 502 5.5.1
      C: TURN
      S: 502 5.5.1
      C: SEND FROM:<a@client.test>
      S: 502 5.5.1
      C: SOML FROM:<a@client.test>
      S: 502 5.5.1
      C: SAML FROM:<a@client.test>
      S: 502 5.5.1
      # none of them opened a transaction
      C: RCPT TO:<alice@localhost>
      S: 503 5.5.1
      C: QUIT
      S: 221 2.0.0
    `,
    );
    await client.waitClosed();
  });

  test("enhanced codes: every 2xx/4xx/5xx reply after EHLO carries one", async () => {
    const client = await RawClient.connect(server.port);
    const replies: string[][] = [];
    await client.reply();
    await ask(client, "EHLO client.test");
    const script = [
      "NOOP",
      "HELP",
      "HELP RCPT",
      "FROB",
      "VRFY alice",
      "EXPN staff",
      "TURN",
      "RCPT TO:<alice@localhost>",
      "DATA",
      "MAIL FROM:a@client.test",
      "MAIL FROM:<a@client.test> FROB=1",
      "MAIL FROM:<a@client.test> SIZE=999999999",
      "MAIL FROM:<a@client.test>",
      "MAIL FROM:<a@client.test>",
      "RCPT TO:<nobody@localhost>",
      "RCPT TO:<someone@remote.test>",
      "RCPT TO:<alice@localhost>",
      "BDAT x",
      "RSET",
      "SEND FROM:<a@client.test>",
      "MAIL FROM:<>",
      "RCPT TO:<alice@localhost>",
      "DATA",
    ];
    for (const line of script) replies.push(await ask(client, line));
    // The 354 reply is intermediate: RFC 2034 §3 prefixes 2xx, 4xx and 5xx only.
    assert.match((replies.pop() as string[])[0] as string, /^354 /);
    await client.write("Subject: codes\r\n\r\nbody\r\n.\r\n");
    replies.push(await client.reply());
    replies.push(await ask(client, "QUIT"));
    assert.equal(replies.length, script.length + 1);
    for (const lines of replies) {
      for (const line of lines) {
        assert.match(line, /^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3} /, JSON.stringify(lines));
      }
    }
    client.close();
  });

  test("postmaster: postmaster@localhost and bare <Postmaster> are accepted without such a user", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: MAIL FROM:<a@client.test>
      S: 250 2.1.0
      C: RCPT TO:<postmaster@localhost>
      S: 250 2.1.5
      C: RCPT TO:<Postmaster>
      S: 250 2.1.5
      C: RCPT TO:<POSTMASTER@LOCALHOST>
      S: 250 2.1.5
      C: QUIT
      S: 221
    `,
    );
    client.close();
  });

  test("recipients: unknown local user 550 5.1.1, remote domain 550 5.7.1", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: MAIL FROM:<a@client.test>
      S: 250 2.1.0
      C: RCPT TO:<nobody@localhost>
      S: 550 5.1.1
      C: RCPT TO:<alice@remote.test>
      S: 550 5.7.1
      C: RCPT TO:<alice@localhost>
      S: 250 2.1.5
      C: QUIT
      S: 221
    `,
    );
    client.close();
  });

  test("relay tricks: %-hack, quoted @, source route and bang path are all refused", async () => {
    const client = await RawClient.connect(server.port);
    await client.reply();
    await ask(client, "EHLO client.test");
    assert.match((await ask(client, "MAIL FROM:<a@client.test>"))[0] as string, /^250 /);
    for (
      const path of [
        "<user%remote.test@localhost>",
        '<"user@remote.test"@localhost>',
        "<@localhost:user@remote.test>",
        "<@localhost,@other.test:user@remote.test>",
        "<remote.test!user@localhost>",
        "<alice%remote.test@localhost>",
        "<alice@remote.test@localhost>",
      ]
    ) {
      const answer = await ask(client, `RCPT TO:${path}`);
      assert.match(answer[0] as string, /^5\d\d 5\.\d\.\d /, `${path} → ${answer}`);
    }
    // Nothing was accepted, so there is no transaction to send.
    assert.match((await ask(client, "DATA"))[0] as string, /^503 5\.5\.1 /);
    client.close();
  });

  test("several transactions in one session each land in the Maildir", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: MAIL FROM:<one@client.test>
      S: 250 2.1.0
      C: RCPT TO:<bob@localhost>
      S: 250 2.1.5
      C: DATA
      S: 354
      C: Subject: multi-1
      C:
      C: first
      C: .
      S: 250 2.0.0
      C: MAIL FROM:<two@client.test>
      S: 250 2.1.0
      C: RCPT TO:<bob@localhost>
      S: 250 2.1.5
      C: RCPT TO:<carol@localhost>
      S: 250 2.1.5
      C: DATA
      S: 354
      C: Subject: multi-2
      C:
      C: second
      C: .
      S: 250 2.0.0
      C: MAIL FROM:<>
      S: 250 2.1.0
      C: RCPT TO:<bob@localhost>
      S: 250 2.1.5
      C: DATA
      S: 354
      C: Subject: multi-3
      C:
      C: third
      C: .
      S: 250 2.0.0
      C: QUIT
      S: 221
    `,
    );
    await client.waitClosed();
    const bob = await maildirTexts(server, "localhost", "bob");
    const carol = await maildirTexts(server, "localhost", "carol");
    for (const n of [1, 2, 3]) {
      assert.equal(bob.filter((t) => t.includes(`Subject: multi-${n}\r\n`)).length, 1, `bob ${n}`);
    }
    assert.equal(carol.filter((t) => t.includes("Subject: multi-2\r\n")).length, 1);
    assert.equal(carol.filter((t) => t.includes("Subject: multi-1\r\n")).length, 0);
    assert.ok(bob.some((t) => t.startsWith("Return-Path: <two@client.test>\r\n")));
    assert.ok(bob.some((t) => t.startsWith("Return-Path: <>\r\n")));
  });

  test("DSN: NOTIFY, ORCPT, RET and ENVID are accepted and the message is queued", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250
      C: MAIL FROM:<dsn@client.test> RET=HDRS ENVID=QQ+2B314
      S: 250 2.1.0
      C: RCPT TO:<alice@localhost> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+2Bx@localhost
      S: 250 2.1.5
      C: RCPT TO:<bob@localhost> NOTIFY=NEVER
      S: 250 2.1.5
      C: DATA
      S: 354
      C: Subject: dsn-params
      C:
      C: hi
      C: .
      S: 250 2.0.0
      C: MAIL FROM:<dsn@client.test> RET=SOME
      S: 501 5.5.4
      C: MAIL FROM:<dsn@client.test> RET=FULL
      S: 250 2.1.0
      C: RCPT TO:<alice@localhost> NOTIFY=NEVER,SUCCESS
      S: 501 5.5.4
      C: QUIT
      S: 221
    `,
    );
    await client.waitClosed();
    assert.equal((await storedWith(server, "alice", "Subject: dsn-params")).length, 1);
  });

  test("SMTPUTF8: a UTF-8 address is accepted with the parameter, 553 5.6.7 without", async () => {
    const client = await RawClient.connect(server.port);
    await client.reply();
    await ask(client, "EHLO client.test");
    const utf8 = (s: string) => new TextEncoder().encode(s + "\r\n");
    await client.write(utf8("MAIL FROM:<jörg@bücher.test>"));
    assert.match((await client.reply())[0] as string, /^553 5\.6\.7 /);
    await client.write(utf8("MAIL FROM:<jörg@bücher.test> SMTPUTF8"));
    assert.match((await client.reply())[0] as string, /^250 2\.1\.0 /);
    await client.write(utf8("RCPT TO:<dora@localhost>"));
    assert.match((await client.reply())[0] as string, /^250 2\.1\.5 /);
    assert.match((await ask(client, "DATA"))[0] as string, /^354 /);
    await client.write(utf8("Subject: utf8-smtp ünïcode\r\n\r\nGrüße\r\n."));
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0 /);
    client.close();
    const stored = (await maildirFiles(server, "localhost", "dora"))
      .map((f) => readFileSync(f).toString("utf8"))
      .filter((t) => t.includes("utf8-smtp"));
    assert.equal(stored.length, 1);
    assert.ok(stored[0]?.startsWith("Return-Path: <jörg@bücher.test>\r\n"), stored[0]);
    assert.ok(stored[0]?.endsWith("Subject: utf8-smtp ünïcode\r\n\r\nGrüße\r\n"), stored[0]);
    assert.match(stored[0] as string, /with UTF8SMTP id /);
  });

  test("storage: the Maildir file is the trace headers followed by exactly the bytes sent", async () => {
    // Dot-stuffed lines, a lone-dot-lookalike, 8-bit bytes, tabs and trailing blanks.
    const lines = [
      "From: Sender <a@client.test>",
      "Subject: exact-bytes",
      "X-Folded: one",
      "\ttwo",
      "",
      "..leading dot, stuffed",
      ". a dot and a space",
      "...",
      "trailing blanks   \t",
      "8-bit: \xe9\xe8\xff",
      "",
      "",
      "last line",
    ];
    const sent = lines.map((l) => l + "\r\n").join("");
    const wire = lines.map((l) => (l.startsWith(".") ? "." + l : l) + "\r\n").join("") + ".\r\n";
    const client = await RawClient.connect(server.port);
    await client.reply();
    await ask(client, "EHLO client.test");
    await ask(client, "MAIL FROM:<exact@client.test> BODY=8BITMIME");
    await ask(client, "RCPT TO:<carol@localhost>");
    assert.match((await ask(client, "DATA"))[0] as string, /^354 /);
    await client.write(Buffer.from(wire, "latin1"));
    const done = await client.reply();
    assert.match(done[0] as string, /^250 2\.0\.0 /);
    const queueId = /queued as (\S+)/.exec(done[0] as string)?.[1] as string;
    client.close();

    const stored = await storedWith(server, "carol", "exact-bytes");
    assert.equal(stored.length, 1);
    const text = stored[0] as string;
    const trace = "Return-Path: <exact@client.test>\r\nDelivered-To: carol@localhost\r\n";
    assert.ok(text.startsWith(trace), JSON.stringify(text.slice(0, 200)));
    const received = /^Received: [^\r\n]*(?:\r\n\t[^\r\n]*)*\r\n/.exec(text.slice(trace.length));
    assert.ok(received, JSON.stringify(text.slice(trace.length, trace.length + 300)));
    assert.ok(received[0].includes(` id ${queueId}`), received[0]);
    assert.ok(received[0].includes("for <carol@localhost>"), received[0]);
    assert.equal(text.slice(trace.length + received[0].length), sent);
  });
});
