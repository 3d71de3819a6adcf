/**
 * Submission (RFC 6409) on the wire, against the real server: the
 * submission and implicit-TLS listeners require AUTH before MAIL (530
 * 5.7.0), authenticated users may relay, the envelope sender must be one
 * the user owns (553 5.7.1, `sender_login_check`), and the port-25 listener
 * stays closed to unauthenticated relaying (550 5.7.1).
 *
 * Relayed mail goes to `relay_host`, a closed port here, so it simply stays
 * queued: nothing leaves the machine.
 *
 * @module
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { freePort } from "./helpers/remote_sink.ts";
import { postino, type RunningServer, startServer } from "./helpers/server.ts";
import {
  makeCerts,
  openSession,
  type SmtpConn,
  type TestCerts,
  tlsConfig,
  waitForListeners,
} from "./helpers/tls.ts";

const TIMEOUT = { timeout: 60_000 };
const ALICE = { user: "alice@localhost", password: "Alice-Submit-Secret-3391" };
const BOB = { user: "bob@localhost", password: "Bob-Submit-Secret-7420" };

let certs: TestCerts;
let server: RunningServer;
/** Ports in config order: `listen` (port 25 style), `submission`, `tls_listen`. */
let smtpPort: number;
let submissionPort: number;
let implicitPort: number;

/** Config shared by both servers here: TLS, the two submission listeners, a dead smart host. */
async function submissionConfig(extra = ""): Promise<string> {
  // Nothing listens there: relayed mail is deferred and stays queued.
  const closed = await freePort();
  return tlsConfig(certs) +
    `submission = ["127.0.0.1:0"]\ntls_listen = ["127.0.0.1:0"]\n` +
    `relay_host = "127.0.0.1:${closed}"\n` + extra;
}

before(async () => {
  certs = makeCerts();
  server = await startServer({
    users: [`${ALICE.user}:${ALICE.password}`, `${BOB.user}:${BOB.password}`],
    config: await submissionConfig(),
  });
  [smtpPort = 0, submissionPort = 0, implicitPort = 0] = await waitForListeners(server, 3);
  // team@ includes alice; sales@ does not.
  for (
    const [alias, ...members] of [[`team@localhost`, ALICE.user, BOB.user], [
      "sales@localhost",
      BOB.user,
    ]]
  ) {
    const added = await postino([
      "alias",
      "add",
      alias as string,
      ...members,
      "--data-dir",
      server.dataDir,
    ]);
    assert.equal(added.code, 0, added.stderr);
  }
});

after(async () => {
  await server?.stop();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

/** Runs `body` with a session and always closes it. */
async function using(
  client: Promise<SmtpConn>,
  body: (client: SmtpConn) => Promise<void>,
): Promise<void> {
  const open = await client;
  try {
    await body(open);
  } finally {
    open.close();
  }
}

/** A session logged in as `login` on the submission port (STARTTLS then AUTH). */
function submitAs(login: { user: string; password: string }, port = submissionPort) {
  return openSession(port, { starttls: true, auth: login });
}

test(
  "submission port: MAIL without AUTH gets 530 5.7.0, before and after STARTTLS",
  TIMEOUT,
  async () => {
    await using(openSession(submissionPort), async (client) => {
      assert.match(await client.command(`MAIL FROM:<${ALICE.user}>`), /^530 5\.7\.0 /);
      assert.match(await client.command("MAIL FROM:<>"), /^530 5\.7\.0 /);
      // Nothing was opened, so RCPT is out of sequence.
      assert.match(await client.command(`RCPT TO:<${BOB.user}>`), /^503 /);
    });
    await using(openSession(submissionPort, { starttls: true }), async (client) => {
      assert.match(await client.command(`MAIL FROM:<${ALICE.user}>`), /^530 5\.7\.0 /);
      // Even mail for a local user needs a login here.
      assert.match(await client.command("MAIL FROM:<someone@example.org>"), /^530 5\.7\.0 /);
    });
  },
);

test("implicit TLS port: MAIL without AUTH gets 530 5.7.0 too", TIMEOUT, async () => {
  await using(openSession(implicitPort, { implicitTls: true }), async (client) => {
    assert.match(await client.command(`MAIL FROM:<${ALICE.user}>`), /^530 5\.7\.0 /);
  });
  await using(openSession(implicitPort, { implicitTls: true, auth: ALICE }), async (client) => {
    assert.match(await client.command(`MAIL FROM:<${ALICE.user}>`), /^250 /);
  });
});

test(
  "after AUTH, relaying to a remote domain is accepted, and the message stays queued",
  TIMEOUT,
  async () => {
    let queueId = "";
    await using(submitAs(ALICE), async (client) => {
      assert.match(await client.command(`MAIL FROM:<${ALICE.user}>`), /^250 2\.1\.0/);
      assert.match(await client.command("RCPT TO:<friend@example.net>"), /^250 2\.1\.5/);
      assert.match(await client.command(`RCPT TO:<${BOB.user}>`), /^250 2\.1\.5/);
      assert.match(await client.command("DATA"), /^354 /);
      const queued = await client.command(
        `From: <${ALICE.user}>\r\nTo: <friend@example.net>\r\nSubject: relay after auth\r\n\r\nhi\r\n.`,
      );
      assert.match(queued, /^250 2\.0\.0 Ok: queued as \S+/);
      queueId = /queued as (\S+)/.exec(queued)?.[1] ?? "";
    });
    await server.settled();
    // The smart host is down, so the remote recipient is still in the queue.
    const list = await postino(["queue", "list", "--json", "--data-dir", server.dataDir]);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.stdout.includes(queueId), list.stdout);
    assert.ok(list.stdout.includes("friend@example.net"), list.stdout);
  },
);

test("MAIL FROM an address the user does not own gets 553 5.7.1", TIMEOUT, async () => {
  await using(submitAs(ALICE), async (client) => {
    assert.match(await client.command(`MAIL FROM:<${BOB.user}>`), /^553 5\.7\.1 /);
    assert.match(await client.command("MAIL FROM:<ceo@example.org>"), /^553 5\.7\.1 /);
    // An alias alice is not a member of.
    assert.match(await client.command("MAIL FROM:<sales@localhost>"), /^553 5\.7\.1 /);
    // The refusal opened no transaction.
    assert.match(await client.command("RCPT TO:<friend@example.net>"), /^503 /);
    // Her own address, in any case, is fine.
    assert.match(await client.command("MAIL FROM:<Alice@LOCALHOST>"), /^250 /);
  });
});

test("MAIL FROM an alias that includes the user is allowed", TIMEOUT, async () => {
  await using(submitAs(ALICE), async (client) => {
    assert.match(await client.command("MAIL FROM:<team@localhost>"), /^250 2\.1\.0/);
    assert.match(await client.command("RCPT TO:<friend@example.net>"), /^250 /);
  });
  await using(submitAs(BOB), async (client) => {
    assert.match(await client.command("MAIL FROM:<sales@localhost>"), /^250 2\.1\.0/);
    assert.match(await client.command("RSET"), /^250 /);
    assert.match(await client.command("MAIL FROM:<team@localhost>"), /^250 2\.1\.0/);
  });
});

test("the null sender is allowed after AUTH", TIMEOUT, async () => {
  await using(submitAs(BOB), async (client) => {
    assert.match(await client.command("MAIL FROM:<>"), /^250 /);
  });
});

test(
  "port-25 listener: an unauthenticated client cannot relay (550 5.7.1), local mail is fine",
  TIMEOUT,
  async () => {
    for (const starttls of [false, true]) {
      await using(openSession(smtpPort, { starttls }), async (client) => {
        assert.match(await client.command("MAIL FROM:<someone@example.org>"), /^250 /);
        assert.match(await client.command("RCPT TO:<friend@example.net>"), /^550 5\.7\.1 /);
        // Pretending to be a local sender does not help.
        assert.match(await client.command("RSET"), /^250 /);
        assert.match(await client.command(`MAIL FROM:<${ALICE.user}>`), /^250 /);
        assert.match(await client.command("RCPT TO:<friend@example.net>"), /^550 5\.7\.1 /);
        assert.match(await client.command(`RCPT TO:<${BOB.user}>`), /^250 /);
      });
    }
  },
);

test(
  "port-25 listener after STARTTLS and AUTH: relaying allowed, sender rules still apply",
  TIMEOUT,
  async () => {
    await using(submitAs(ALICE, smtpPort), async (client) => {
      assert.match(await client.command(`MAIL FROM:<${BOB.user}>`), /^553 5\.7\.1 /);
      assert.match(await client.command(`MAIL FROM:<${ALICE.user}>`), /^250 /);
      assert.match(await client.command("RCPT TO:<friend@example.net>"), /^250 /);
    });
  },
);

test("sender_login_check = false: any sender is allowed after AUTH", TIMEOUT, async () => {
  const loose = await startServer({
    users: [`${ALICE.user}:${ALICE.password}`, `${BOB.user}:${BOB.password}`],
    config: await submissionConfig("sender_login_check = false\n"),
  });
  try {
    const [, port = 0] = await waitForListeners(loose, 3);
    await using(openSession(port, { starttls: true, auth: ALICE }), async (client) => {
      assert.match(await client.command(`MAIL FROM:<${BOB.user}>`), /^250 /);
      assert.match(await client.command("RCPT TO:<friend@example.net>"), /^250 /);
      assert.match(await client.command("RSET"), /^250 /);
      assert.match(await client.command("MAIL FROM:<ceo@example.org>"), /^250 /);
    });
    // AUTH is still required on the submission port.
    await using(openSession(port, { starttls: true }), async (client) => {
      assert.match(await client.command(`MAIL FROM:<${BOB.user}>`), /^530 5\.7\.0 /);
    });
  } finally {
    await loose.stop();
    rmSync(loose.dataDir, { recursive: true, force: true });
  }
});
