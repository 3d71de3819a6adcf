/**
 * ETRN (RFC 1985) on the wire: `postino serve --plugin etrn` with a
 * `[transport]` hop that is down, then Postfix's smtp-sink started on that
 * port, and ETRN making the deferred message go out at once.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertSameApartFromReceived,
  freePort,
  HAVE_SINK,
  parseDump,
  sendMail,
  type Sink,
  startSink,
} from "./helpers/remote_sink.ts";
import { startServer } from "./helpers/server.ts";
import { transcript } from "./helpers/smtp_client.ts";

const HOSTNAME = "postino.test";

function sample(to: string): string {
  return [
    "From: Alice <alice@localhost>",
    `To: ${to}`,
    "Subject: held for ETRN",
    "Message-ID: <etrn@localhost>",
    "",
    "Waiting for the remote to come back.",
    "",
  ].join("\r\n");
}

test("ETRN: deferred mail goes out at once to the node's transport; RFC 1985 replies", {
  skip: !HAVE_SINK,
  timeout: 60_000,
}, async () => {
  const port = await freePort();
  // retry_initial = 1 h: without ETRN the message would not be retried during this test.
  const server = await startServer({
    args: ["--plugin", "etrn"],
    config: `hostname = "${HOSTNAME}"
relay_networks = ["127.0.0.1/32"]
retry_initial = 3600

[transport]
"remote.test" = "127.0.0.1:${port}"

[plugin.etrn]
per_minute = 3
`,
  });
  let sink: Sink | undefined;
  try {
    const message = sample("dave@remote.test");
    const sent = await sendMail(server.port, {
      from: "alice@localhost",
      to: ["dave@remote.test"],
      data: message,
    });
    const id = sent.id as string;
    assert.ok(id, sent.final);
    await server.waitFor(new RegExp(` deferred id=${id} `), 20_000);

    sink = await startSink({ port });
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.test
      S: 250 ETRN
      C: HELP
      S: 214
      C: ETRN
      S: 501 5.5.4 Syntax: ETRN [@|#]domain
      C: ETRN remote.test other.test
      S: 501 5.5.4
      C: ETRN [127.0.0.1]
      S: 501 5.5.4
      C: ETRN localhost
      S: 459 4.7.1 localhost: node not allowed
      C: MAIL FROM:<alice@localhost>
      S: 250
      C: ETRN remote.test
      S: 503 5.5.1 ETRN not allowed during a mail transaction
      C: RSET
      S: 250
      C: ETRN remote.test
      S: 253 2.0.0 1 pending messages for node remote.test started
      `,
    );
    // The scheduler was woken: the message goes out without waiting for a retry.
    await server.waitFor(new RegExp(` delivered id=${id} `), 15_000);
    const [dump] = (await sink.waitDumps(1)).map(parseDump);
    assert.ok(dump);
    assert.deepEqual(dump.rcptArgs.map((r) => r.split(" ")[0]), ["<dave@remote.test>"]);
    assertSameApartFromReceived(dump.message, message, { lf: true, hostname: HOSTNAME });

    await client.send("ETRN #other.test");
    assert.deepEqual(await client.reply(), ["251 2.0.0 No messages waiting for other.test"]);
    await client.send("ETRN @remote.test");
    assert.deepEqual(await client.reply(), ["251 2.0.0 No messages waiting for remote.test"]);
    // per_minute = 3 runs from 127.0.0.1, counted across connections.
    await client.send("QUIT");
    await client.reply();
    await transcript(
      server.port,
      `
      S: 220
      C: HELO client.test
      S: 250
      C: ETRN remote.test
      S: 458 4.7.0 Too many ETRN requests, try again later
      C: QUIT
      S: 221
      `,
    );
  } finally {
    await server.stop();
    await sink?.stop();
  }
});

test("ETRN: EHLO announces it and HELP lists it only with the plugin", async () => {
  const withPlugin = await startServer({ args: ["--plugin", "etrn"] });
  const without = await startServer();
  try {
    for (const [server, listed] of [[withPlugin, true], [without, false]] as const) {
      const client = await transcript(server.port, "S: 220\nC: EHLO client.test");
      const ehlo = await client.reply();
      assert.equal(ehlo.some((l) => /^250[- ]ETRN$/.test(l)), listed, ehlo.join("\n"));
      await client.send("HELP");
      const help = await client.reply();
      assert.equal(/\bETRN\b/.test(help.join(" ")), listed, help.join("\n"));
      await client.send("HELP ETRN");
      assert.match((await client.reply())[0] ?? "", listed ? /^214 2\.0\.0 ETRN / : /^504 /);
      await client.send("ETRN remote.test");
      assert.match((await client.reply())[0] ?? "", listed ? /^251 / : /^500 5\.5\.1 /);
      await client.send("QUIT");
      await client.reply();
    }
  } finally {
    await withPlugin.stop();
    await without.stop();
  }
});
