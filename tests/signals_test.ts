/**
 * Signals on the real server: SIGTERM stops gracefully (idle sessions get
 * 421 4.3.2, a transfer in progress may finish, the process exits 0) and
 * SIGHUP reloads the config, keeping the old one when the new one is bad.
 * shutdown_test.ts and reload_test.ts go further.
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient, transcript } from "./helpers/smtp_client.ts";
import {
  exitCode,
  expectReply,
  maildirFiles,
  scratchDirs,
  sendSignal,
} from "./helpers/lifecycle.ts";

const TIMEOUT = { timeout: 60_000 };
const { start } = scratchDirs();

/**
 * The files in the `new/` folder of `address`'s Maildir, once every message
 * `server` queued so far has had its delivery attempt (delivery runs from the
 * spool after the 250 reply).
 */
async function storedFiles(server: RunningServer, address: string): Promise<string[]> {
  await server.settled();
  return maildirFiles(server.dataDir, address);
}

/** The server's delivery outcome lines, to explain a missing Maildir copy. */
function outcomes(server: RunningServer): string {
  return server.output().split("\n")
    .filter((line) => / (delivered|deferred|failed|delivery_error) /.test(line))
    .join("\n");
}

/** One whole transaction to `rcpt`; the RCPT reply must start with `want`. */
function tryRcpt(port: number, rcpt: string, want: string): Promise<void> {
  return transcript(
    port,
    `
    S: 220
    C: EHLO localhost
    S: 250
    C: MAIL FROM:<sender@localhost>
    S: 250 2.1.0
    C: RCPT TO:<${rcpt}>
    S: ${want}
    C: QUIT
    S: 221
  `,
  ).then((client) => client.close());
}

/** Delivers a short message to `rcpt` and checks the queue reply. */
function deliver(port: number, rcpt: string, subject: string): Promise<void> {
  return transcript(
    port,
    `
    S: 220
    C: EHLO localhost
    S: 250
    C: MAIL FROM:<sender@localhost>
    S: 250 2.1.0
    C: RCPT TO:<${rcpt}>
    S: 250 2.1.5
    C: DATA
    S: 354
    C: Subject: ${subject}
    C:
    C: hello
    C: .
    S: 250 2.0.0
    C: QUIT
    S: 221
  `,
  ).then((client) => client.close());
}

test("SIGTERM sends 421 4.3.2 to an idle client and the server exits 0", TIMEOUT, async () => {
  const server = await start({});
  const client = await RawClient.connect(server.port);
  try {
    await expectReply(client, "220");
    await client.send("EHLO localhost");
    await expectReply(client, "250");
    const exited = exitCode(server);
    sendSignal(server, "SIGTERM");
    await expectReply(client, "421 4.3.2");
    await client.waitClosed();
    assert.equal(await exited, 0);
    assert.match(server.output(), /stopping signal=SIGTERM/);
    assert.match(server.output(), /stopped/);
  } finally {
    client.close();
    await server.stop();
  }
});

test(
  "SIGTERM during DATA lets the transfer finish with 250, then the server exits 0",
  TIMEOUT,
  async () => {
    const server = await start({ users: ["alice@localhost"] });
    const client = await RawClient.connect(server.port);
    try {
      await expectReply(client, "220");
      await client.send("EHLO localhost");
      await expectReply(client, "250");
      await client.send("MAIL FROM:<sender@localhost>");
      await expectReply(client, "250 2.1.0");
      await client.send("RCPT TO:<alice@localhost>");
      await expectReply(client, "250 2.1.5");
      await client.send("DATA");
      await expectReply(client, "354");
      const head = "Subject: in flight\r\n\r\nfirst half\r\n";
      await client.write(head);

      const exited = exitCode(server);
      sendSignal(server, "SIGTERM");
      await server.waitFor(/stopping signal=SIGTERM sessions=1/);
      assert.equal(server.child.exitCode, null, "the server must wait for the transfer");
      // A new connection is never served: it is refused, reset (it sat in
      // the backlog of the closing listener) or told 421 4.3.2.
      const late = await RawClient.connect(server.port).catch(() => undefined);
      if (late) {
        const greeting = await late.reply().catch(() => ["(closed)"]);
        late.close();
        assert.match(greeting.join("\n"), /^(\(closed\)|421 4\.3\.2 )/);
      }

      const tail = "second half\r\n";
      await client.write(`${tail}.\r\n`);
      const queued = await expectReply(client, "250 2.0.0");
      // The session then ends as soon as it would wait for a command.
      await expectReply(client, "421 4.3.2");
      await client.waitClosed();
      assert.equal(await exited, 0);

      // Delivery runs from the spool after the 250: the server either
      // delivered before it exited, or left the message in the spool for
      // the next start. Either way it is delivered, and exactly once.
      const queueId = /queued as (\S+)/.exec(queued)?.[1];
      assert.ok(queueId, queued);
      // The process has exited, so the Maildir is as it will stay.
      if (maildirFiles(server.dataDir, "alice@localhost").length === 0) {
        const again = await startServer({ dataDir: server.dataDir });
        try {
          await again.waitFor(new RegExp(` delivered id=${queueId} to=alice@localhost\\b`));
        } finally {
          assert.equal(await again.stop(), 0);
        }
      }
      const files = maildirFiles(server.dataDir, "alice@localhost");
      assert.equal(files.length, 1);
      const stored = readFileSync(files[0] as string, "latin1");
      assert.ok(stored.endsWith(`\r\n${head}${tail}`), stored);
      assert.match(stored, new RegExp(`\\bid ${queueId}\\b`));
    } finally {
      client.close();
      await server.stop();
    }
  },
);

test(
  "SIGHUP with an added domain makes new connections accept it while the server keeps running",
  TIMEOUT,
  async () => {
    const server = await start({
      config: 'domains = ["localhost"]\n',
      users: ["kim@example.test"],
    });
    try {
      await tryRcpt(server.port, "kim@example.test", "550 5.7.1");
      // A session that is open across the reload keeps the settings it started with.
      const before = await transcript(
        server.port,
        `
      S: 220
      C: EHLO localhost
      S: 250
    `,
      );

      writeFileSync(
        join(server.dataDir, "postino.toml"),
        'domains = ["localhost", "example.test"]\n',
      );
      sendSignal(server, "SIGHUP");
      await server.waitFor(/reloaded config=\S*postino\.toml/);

      await deliver(server.port, "kim@example.test", "after reload");
      // The new domain must be local for delivery too, not only at RCPT.
      const files = await storedFiles(server, "kim@example.test");
      assert.equal(files.length, 1, outcomes(server));

      await before.send("MAIL FROM:<sender@localhost>");
      await expectReply(before, "250 2.1.0");
      await before.send("RCPT TO:<kim@example.test>");
      await expectReply(before, "550 5.7.1");
      before.close();

      assert.equal(server.child.exitCode, null, "SIGHUP must not stop the server");
    } finally {
      await server.stop();
    }
  },
);

test(
  "SIGHUP with a broken config logs reload_failed and the old config keeps working",
  TIMEOUT,
  async () => {
    const server = await start({
      config: 'domains = ["localhost", "example.test"]\n',
      users: ["alice@localhost", "kim@example.test"],
    });
    const file = join(server.dataDir, "postino.toml");
    try {
      writeFileSync(file, "domains = [\n");
      sendSignal(server, "SIGHUP");
      await server.waitFor(/reload_failed error=.*postino\.toml/);

      // A valid TOML file with a bad value is refused whole, too.
      writeFileSync(file, 'domains = ["localhost"]\nmax_errors = -1\n');
      sendSignal(server, "SIGHUP");
      await server.waitFor(/reload_failed[^\n]*\n[\s\S]*reload_failed error=[^\n]*max_errors/);
      assert.doesNotMatch(server.output(), /reloaded/);

      // Both domains of the old config still work.
      await deliver(server.port, "alice@localhost", "still here");
      await deliver(server.port, "kim@example.test", "still here");
      assert.equal((await storedFiles(server, "alice@localhost")).length, 1);
      assert.equal((await storedFiles(server, "kim@example.test")).length, 1);
      assert.equal(server.child.exitCode, null, "a bad reload must not stop the server");
    } finally {
      await server.stop();
    }
  },
);
