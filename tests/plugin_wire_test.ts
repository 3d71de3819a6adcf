/**
 * Custom plugins loaded from files with `--plugin /abs/path.ts`, against the
 * real server: a policy plugin runs before the built-in acceptors, a plugin
 * that throws or hangs fails closed (451 4.3.0) and is named in the log,
 * data_post header edits reach the Maildir, and a connect hook can
 * disconnect the client.
 *
 * @module
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, startServer, tempDir } from "./helpers/server.ts";
import { RawClient, transcript } from "./helpers/smtp_client.ts";

const TIMEOUT = { timeout: 60_000 };
const pluginDir = tempDir("postino-plugins-");

/** Writes a plugin file into the temp dir and returns its absolute path. */
function pluginFile(name: string, source: string): string {
  const path = join(pluginDir, `${name}.ts`);
  writeFileSync(path, source);
  return path;
}

// Each plugin acts on its own recipients and passes (returns nothing) on the
// rest, so one server can host them all.
const POLICY = pluginFile(
  "policy",
  `export default (host) => ({
  name: "no_mail_for_alice",
  rcpt(_ctx, recipient) {
    if (recipient.mailbox.local === "alice") {
      return host.reject(550, "5.7.1", "Alice takes no mail today");
    }
  },
});
`,
);

const THROWS = pluginFile(
  "throws",
  `export default () => ({
  name: "thrower",
  rcpt(_ctx, recipient) {
    if (recipient.mailbox.local === "boom") throw new Error("kaboom");
  },
});
`,
);

const HANGS = pluginFile(
  "hangs",
  `export default () => ({
  name: "hanger",
  rcpt(_ctx, recipient) {
    if (recipient.mailbox.local === "slow") return new Promise(() => {});
  },
});
`,
);

const HEADER = pluginFile(
  "header",
  `export default () => ({
  name: "header_stamp",
  data_post(ctx, message) {
    message.append("X-Stamp", "seen " + ctx.transaction.id);
  },
});
`,
);

const DISCONNECT = pluginFile(
  "disconnect",
  `export default (host) => ({
  name: "bouncer",
  connect() {
    return host.disconnect(421, "4.7.0", "No connections today");
  },
});
`,
);

let started: Promise<RunningServer> | undefined;
/** The server with the policy, throwing, hanging and header plugins. */
function server(): Promise<RunningServer> {
  started ??= startServer({
    users: ["alice@localhost", "bob@localhost", "boom@localhost", "slow@localhost"],
    config: "hook_timeout = 1\n",
    args: ["--plugin", POLICY, "--plugin", THROWS, "--plugin", HANGS, "--plugin", HEADER],
  });
  return started;
}

const others: RunningServer[] = [];

after(async () => {
  for (const running of [...(started ? [await started] : []), ...others]) {
    await running.stop();
    rmSync(running.dataDir, { recursive: true, force: true });
  }
  rmSync(pluginDir, { recursive: true, force: true });
});

/** Opens a transaction and checks the reply to one RCPT. */
async function rcpt(port: number, address: string, want: string): Promise<void> {
  const client = await transcript(
    port,
    `
    S: 220
    C: EHLO localhost
    S: 250
    C: MAIL FROM:<sender@localhost>
    S: 250 2.1.0
    C: RCPT TO:<${address}>
    S: ${want}
    C: QUIT
    S: 221
  `,
  );
  client.close();
}

test(
  "a policy plugin from a file refuses mail for an existing user before rcpt_local accepts it",
  TIMEOUT,
  async () => {
    const { port, output } = await server();
    await rcpt(port, "alice@localhost", "550 5.7.1 Alice takes no mail today");
    // The plugin passes on everyone else, and rcpt_local accepts them.
    await rcpt(port, "bob@localhost", "250 2.1.5");
    assert.match(output(), /reject conn=\S+ id=\S+ stage=rcpt subject=alice@localhost code=550/);
  },
);

test(
  "a plugin that throws fails closed with 451 4.3.0 and plugin_error names it",
  TIMEOUT,
  async () => {
    const running = await server();
    await rcpt(running.port, "boom@localhost", "451 4.3.0");
    await running.waitFor(/plugin_error conn=\S+ plugin=thrower hook=rcpt reason=.*kaboom/);
  },
);

test(
  "a plugin hook that never resolves times out after hook_timeout with 451 4.3.0",
  TIMEOUT,
  async () => {
    const running = await server();
    // The same session goes on after the timeout.
    const client = await transcript(
      running.port,
      `
      S: 220
      C: EHLO localhost
      S: 250
      C: MAIL FROM:<sender@localhost>
      S: 250 2.1.0
      C: RCPT TO:<slow@localhost>
      S: 451 4.3.0
      C: RCPT TO:<bob@localhost>
      S: 250 2.1.5
      C: QUIT
      S: 221
    `,
    );
    client.close();
    await running.waitFor(/plugin_error conn=\S+ plugin=hanger hook=rcpt reason=.*timed out/);
  },
);

test("a header added by a data_post plugin is stored in the Maildir copy", TIMEOUT, async () => {
  const running = await server();
  const client = await transcript(
    running.port,
    `
    S: 220
    C: EHLO localhost
    S: 250
    C: MAIL FROM:<sender@localhost>
    S: 250 2.1.0
    C: RCPT TO:<bob@localhost>
    S: 250 2.1.5
    C: DATA
    S: 354
    C: Subject: stamped
    C: From: sender@localhost
    C:
    C: body stays as it was
    C: .
    S: 250 2.0.0
  `,
  );
  client.close();
  // Delivery runs from the spool after the 250 reply.
  await running.settled();
  const dir = join(running.dataDir, "mail", "localhost", "bob", "new");
  const files = existsSync(dir) ? readdirSync(dir) : [];
  assert.equal(files.length, 1);
  const stored = readFileSync(join(dir, files[0] as string), "latin1");
  const queueId = /\bid (\S+)\r\n/.exec(stored)?.[1];
  assert.ok(queueId, stored);
  assert.ok(
    stored.endsWith(
      `\r\nSubject: stamped\r\nFrom: sender@localhost\r\nX-Stamp: seen ${queueId}\r\n` +
        "\r\nbody stays as it was\r\n",
    ),
    stored,
  );
});

test(
  "a connect hook that returns disconnect() sends 421 and closes the connection",
  TIMEOUT,
  async () => {
    const running = await startServer({ args: ["--plugin", DISCONNECT] });
    others.push(running);
    const client = await RawClient.connect(running.port);
    try {
      const reply = await client.reply();
      assert.deepEqual(reply, ["421 4.7.0 No connections today"]);
      await client.waitClosed();
      assert.equal(client.unread, "");
      await running.waitFor(/reject conn=\S+ stage=connect code=421/);
    } finally {
      client.close();
    }
  },
);
