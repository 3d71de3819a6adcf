/**
 * ATRN (RFC 2645, On-Demand Mail Relay) on the wire, against the real
 * server with `--plugin turn`: mail for a hold domain is accepted from
 * anyone and held; its owner connects to the `odmr` (or submission)
 * listener, does STARTTLS and AUTH PLAIN, sends ATRN, and then plays the
 * SMTP server on the same TLS socket: it greets with 220, answers EHLO,
 * MAIL, RCPT and DATA, and receives the held messages byte for byte.
 *
 * Also: 453 when nothing waits, bare TURN refused (502 on port 25, 530
 * before AUTH), ATRN for a domain not granted refused (450), and a grant
 * made with `postino user grant` allowing it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { sendMail, splitReceived } from "./helpers/remote_sink.ts";
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
const ALICE = { user: "alice@collector.test", password: "Alice-Odmr-Secret-5120" };

let certs: TestCerts;
let server: RunningServer;
/** Ports in config order: `listen` (port 25 style), `submission`, `odmr`. */
let smtpPort: number;
let submissionPort: number;
let odmrPort: number;

before(async () => {
  certs = makeCerts();
  server = await startServer({
    users: [`${ALICE.user}:${ALICE.password}`],
    config: tlsConfig(certs) +
      `plugins = ["turn"]\n` +
      `submission = ["127.0.0.1:0"]\nodmr = ["127.0.0.1:0"]\n` +
      `hold_domains = ["collector.test", "granted.test"]\n`,
  });
  [smtpPort = 0, submissionPort = 0, odmrPort = 0] = await waitForListeners(server, 3);
});

after(async () => {
  await server?.stop();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

/** Runs `body` with a session and always closes it. */
async function using(conn: Promise<SmtpConn>, body: (c: SmtpConn) => Promise<void>) {
  const c = await conn;
  try {
    await body(c);
  } finally {
    c.close();
  }
}

const login = (port: number) => openSession(port, { starttls: true, auth: ALICE });

/** One message as the reversed server received it. */
interface Received {
  from: string;
  to: string[];
  data: string;
}

/**
 * Plays the SMTP server on `conn` after ATRN's 250 (RFC 2645 §4.2): greets,
 * answers every command, unstuffs DATA, and returns what arrived by QUIT.
 */
async function actAsServer(conn: SmtpConn): Promise<{ commands: string[]; messages: Received[] }> {
  let buffer = conn.unread;
  let closed = false;
  let wake: () => void = () => {};
  conn.socket.on("data", (chunk: Uint8Array) => {
    buffer += Buffer.from(chunk).toString("latin1");
    wake();
  });
  conn.socket.on("close", () => {
    closed = true;
    wake();
  });
  const readLine = async (): Promise<string> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const end = buffer.indexOf("\r\n");
      if (end !== -1) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        return line;
      }
      if (closed) throw new Error(`closed; unread: ${JSON.stringify(buffer)}`);
      if (Date.now() > deadline) throw new Error(`no line; unread: ${JSON.stringify(buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  const commands: string[] = [];
  const messages: Received[] = [];
  let current: Received = { from: "", to: [], data: "" };
  await conn.write("220 collector.test ESMTP odmr client\r\n");
  for (;;) {
    const line = await readLine();
    commands.push(line);
    const verb = line.split(" ")[0]?.toUpperCase();
    if (verb === "EHLO") {
      await conn.write("250-collector.test\r\n250 ENHANCEDSTATUSCODES\r\n");
    } else if (verb === "MAIL") {
      current = { from: /<(.*)>/.exec(line)?.[1] ?? "?", to: [], data: "" };
      await conn.write("250 2.1.0 Ok\r\n");
    } else if (verb === "RCPT") {
      current.to.push(/<(.*)>/.exec(line)?.[1] ?? "?");
      await conn.write("250 2.1.5 Ok\r\n");
    } else if (verb === "DATA") {
      await conn.write("354 Go ahead\r\n");
      const lines: string[] = [];
      for (let l = await readLine(); l !== "."; l = await readLine()) {
        lines.push(l.startsWith(".") ? l.slice(1) : l); // RFC 5321 §4.5.2
      }
      current.data = lines.map((l) => `${l}\r\n`).join("");
      messages.push(current);
      await conn.write("250 2.0.0 Ok: delivered\r\n");
    } else if (verb === "QUIT") {
      await conn.write("221 2.0.0 Bye\r\n");
      return { commands, messages };
    } else {
      await conn.write("502 5.5.1 Not here\r\n");
    }
  }
}

function sample(to: string, token: string): string {
  return [
    "From: Carol <carol@sender.test>",
    `To: ${to}`,
    `Subject: held for ODMR ${token}`,
    `Message-ID: <${token}@sender.test>`,
    "",
    `Body of ${token}.`,
    ".A line that starts with a dot (stuffed on the wire).",
    "",
  ].join("\r\n");
}

/** Sends a message to a hold domain on port 25, from an untrusted client, and waits until it is held. */
async function hold(to: string, token: string): Promise<{ id: string; data: string }> {
  const data = sample(to, token);
  const sent = await sendMail(smtpPort, { from: "carol@sender.test", to: [to], data });
  assert.deepEqual(sent.rcpt.map((r) => r.slice(0, 3)), ["250"]);
  assert.ok(sent.id);
  // The scheduler's `hold` deliverer defers it: it stays queued for collection.
  await server.waitFor(new RegExp(`attempted id=${sent.id} delivered=0 deferred=1`));
  return { id: sent.id, data };
}

test(
  "ATRN: 453 4.3.0 when nothing waits; ATRN announced only once TLS is up on odmr",
  TIMEOUT,
  async () => {
    await using(openSession(odmrPort), async (c) => {
      assert.equal(await c.command("ATRN"), "530 5.7.0 Authentication required");
      await c.send("EHLO client.example");
      assert.ok(!(await c.reply()).some((l) => /ATRN/.test(l)), "ATRN offered before TLS");
      assert.equal((await c.command("STARTTLS")).slice(0, 3), "220");
      await c.startTls();
      await c.send("EHLO client.example");
      assert.ok(
        (await c.reply()).some((l) => /^250[- ]ATRN$/.test(l)),
        "ATRN not offered after STARTTLS",
      );
    });
    await using(login(odmrPort), async (c) => {
      assert.equal(await c.command("ATRN collector.test"), "453 4.3.0 No messages waiting");
      // The session goes on after a 453.
      assert.equal(await c.command("NOOP"), "250 2.0.0 Ok");
    });
  },
);

test(
  "ATRN: the collector, as SMTP server on the same TLS socket, gets the held mail byte-exact",
  TIMEOUT,
  async () => {
    const first = await hold("dave@collector.test", "first");
    const second = await hold("erin@collector.test", "second");
    await using(login(odmrPort), async (c) => {
      assert.equal(await c.command("ATRN"), "250 2.0.0 OK now reversing the connection");
      const { commands, messages } = await actAsServer(c);
      assert.match(commands[0] as string, /^EHLO /);
      assert.equal(commands.at(-1), "QUIT");
      assert.deepEqual(messages.map((m) => [m.from, m.to]), [
        ["carol@sender.test", ["dave@collector.test"]],
        ["carol@sender.test", ["erin@collector.test"]],
      ]);
      for (const [i, original] of [first.data, second.data].entries()) {
        const { received, rest } = splitReceived(messages[i]?.data ?? "");
        assert.equal(received.length, 1, "Postino's own Received: field, and nothing else added");
        assert.equal(rest, original);
      }
      await c.waitClosed();
    });
    for (const { id } of [first, second]) {
      await server.waitFor(
        new RegExp(`attempted id=${id} via=atrn delivered=1 deferred=0 failed=0`),
      );
    }
    // Collected mail is gone from the queue.
    await using(login(odmrPort), async (c) => {
      assert.equal(await c.command("ATRN collector.test"), "453 4.3.0 No messages waiting");
    });
  },
);

test("TURN: bare TURN is refused on port 25 and before AUTH", TIMEOUT, async () => {
  await using(openSession(smtpPort), async (c) => {
    assert.equal(await c.command("TURN"), "502 5.5.1 TURN not available here");
    assert.equal(await c.command("ATRN"), "502 5.5.1 ATRN not available here");
  });
  await using(openSession(submissionPort, { starttls: true }), async (c) => {
    assert.equal(await c.command("TURN"), "530 5.7.0 Authentication required");
  });
});

test(
  "ATRN: a domain not granted is refused (450 4.7.1); `postino user grant` allows it",
  TIMEOUT,
  async () => {
    const held = await hold("frank@granted.test", "granted");
    await using(login(submissionPort), async (c) => {
      assert.equal(await c.command("ATRN granted.test"), "450 4.7.1 ATRN request refused");
      assert.equal(
        await c.command("ATRN collector.test,granted.test"),
        "450 4.7.1 ATRN request refused",
      );
      assert.equal(
        await c.command("ATRN not a domain"),
        "501 5.5.4 Syntax: ATRN [domain[,domain]...]",
      );
    });
    const granted = await postino([
      "user",
      "grant",
      ALICE.user,
      "granted.test",
      "--data-dir",
      server.dataDir,
    ]);
    assert.equal(granted.code, 0, granted.stderr);
    assert.equal(granted.stdout.trim(), `${ALICE.user} may collect granted.test`);
    await using(login(submissionPort), async (c) => {
      assert.equal(
        await c.command("ATRN granted.test"),
        "250 2.0.0 OK now reversing the connection",
      );
      const { messages } = await actAsServer(c);
      assert.equal(messages.length, 1);
      assert.deepEqual(messages[0]?.to, ["frank@granted.test"]);
      assert.equal(splitReceived(messages[0]?.data ?? "").rest, held.data);
    });
    await server.waitFor(new RegExp(`attempted id=${held.id} via=atrn delivered=1`));
    const revoked = await postino([
      "user",
      "revoke",
      ALICE.user,
      "granted.test",
      "--data-dir",
      server.dataDir,
    ]);
    assert.equal(revoked.code, 0, revoked.stderr);
    await using(login(submissionPort), async (c) => {
      assert.equal(await c.command("ATRN granted.test"), "450 4.7.1 ATRN request refused");
    });
  },
);
