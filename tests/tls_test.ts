/**
 * TLS on the wire, against the real server: STARTTLS (RFC 3207) with
 * OpenSSL's `s_client`, TLS versions, implicit TLS (RFC 8314), the STARTTLS
 * injection attack (CVE-2011-0411), Received trace fields, certificate
 * reload on SIGHUP, and real clients (Python's smtplib, nodemailer) that
 * encrypt, log in and deliver.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { after, before, test } from "node:test";
import type { TLSSocket } from "node:tls";
import nodemailer from "nodemailer";
import { type RunningServer, startServer } from "./helpers/server.ts";
import {
  maildirFilesWith,
  makeCerts,
  openSession,
  plainResponse,
  SmtpConn,
  type TestCerts,
  tlsConfig,
  waitForListeners,
} from "./helpers/tls.ts";

const TIMEOUT = { timeout: 60_000 };
const ALICE = { user: "alice@localhost", password: "alice-Tls-pass-7731" };
const BOB = { user: "bob@localhost", password: "bob-Tls-pass-2210" };

let certs: TestCerts;
let server: RunningServer;
/** Ports in config order: port-25 style `listen`, `submission`, `tls_listen`. */
let smtpPort: number;
let submissionPort: number;
let implicitPort: number;

before(async () => {
  certs = makeCerts();
  server = await startServer({
    users: [`${ALICE.user}:${ALICE.password}`, `${BOB.user}:${BOB.password}`],
    config: tlsConfig(certs) +
      `submission = ["127.0.0.1:0"]\ntls_listen = ["127.0.0.1:0"]\n`,
  });
  [smtpPort = 0, submissionPort = 0, implicitPort = 0] = await waitForListeners(server, 3);
});

after(async () => {
  await server?.stop();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

/**
 * Our EHLO's whole reply as s_client prints it. s_client reads the reply to
 * its own EHLO (before STARTTLS) itself, but may echo a stray last line of
 * it, so the match starts at our greeting line.
 */
const EHLO_REPLY = /^250-\S+ Hello localhost \[127\.0\.0\.1\]\r?\n(?:250-[^\n]*\n)*250 [^\n]*\n/m;

/** A running `openssl s_client`, fed through stdin. */
interface OpenSsl {
  child: ChildProcess;
  output(): string;
  write(text: string): void;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Closes stdin and resolves with the exit code (killed after 10 s). */
  finish(): Promise<number>;
}

function sClient(args: string[]): OpenSsl {
  const child = spawn("openssl", ["s_client", ...args], { stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  const waiters = new Set<() => void>();
  const onData = (d: Uint8Array | string) => {
    output += d;
    for (const w of waiters) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number>((resolve) => {
    child.on("close", (code) => {
      resolve(code ?? -1);
      for (const w of waiters) w();
    });
  });
  let done = false;
  exited.then(() => done = true);
  const kill = setTimeout(() => child.kill(), 20_000);
  exited.then(() => clearTimeout(kill));
  return {
    child,
    output: () => output,
    write: (text) => child.stdin?.write(text),
    waitFor: (pattern, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) finish(resolve);
          else if (done) finish(() => reject(new Error(`openssl exited; output:\n${output}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`no ${pattern} from openssl; output:\n${output}`))),
          timeoutMs,
        );
        const finish = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        waiters.add(check);
        check();
      }),
    finish: async () => {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill(), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs a Python script with arguments; resolves with stdout, rejects with stderr. */
function python(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("python3", ["-c", script, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`python3 failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A small message with a unique token in its subject and body. */
function message(token: string, from = ALICE.user, to = BOB.user): string {
  return `From: <${from}>\r\nTo: <${to}>\r\nSubject: ${token}\r\nMessage-ID: <${token}@client.example>\r\n\r\nbody ${token}\r\n`;
}

/** Sends one message on an open, greeted session and returns the 250 line. */
async function sendOn(client: SmtpConn, token: string, from: string, to: string): Promise<string> {
  assert.match(await client.command(`MAIL FROM:<${from}>`), /^250 /);
  assert.match(await client.command(`RCPT TO:<${to}>`), /^250 /);
  assert.match(await client.command("DATA"), /^354 /);
  return await client.command(`${message(token, from, to)}.`);
}

/** The Received field the server added to the stored copy holding `token`. */
async function storedReceived(
  running: RunningServer,
  address: string,
  token: string,
): Promise<string> {
  await running.settled();
  const files = maildirFilesWith(running.dataDir, address, token);
  assert.equal(files.length, 1, `one stored copy of ${token} for ${address}`);
  const text = readFileSync(files[0] as string, "latin1");
  const match = /^Received: .*(?:\r\n[ \t].*)*/m.exec(text);
  assert.ok(match, `a Received field in ${JSON.stringify(text)}`);
  return match[0];
}

test(
  "openssl s_client -starttls smtp: the session goes on over TLS, EHLO offers AUTH and no STARTTLS",
  TIMEOUT,
  async () => {
    const ssl = sClient([
      "-starttls",
      "smtp",
      "-connect",
      `127.0.0.1:${smtpPort}`,
      "-crlf",
      "-quiet",
    ]);
    ssl.write("EHLO localhost\n");
    await ssl.waitFor(EHLO_REPLY);
    const ehlo = EHLO_REPLY.exec(ssl.output())?.[0] ?? "";
    assert.match(ehlo, /^250-AUTH PLAIN LOGIN\r?$/m);
    assert.doesNotMatch(ehlo, /STARTTLS/);
    ssl.write("NOOP\n");
    await ssl.waitFor(/^250 2\.0\.0 Ok/m);
    ssl.write("QUIT\n");
    await ssl.waitFor(/^221 /m);
    await ssl.finish();
  },
);

test("before STARTTLS, EHLO offers STARTTLS and no AUTH", TIMEOUT, async () => {
  const client = await SmtpConn.connect(smtpPort);
  try {
    assert.match(await client.last(), /^220 /);
    await client.send("EHLO client.example");
    const ehlo = await client.reply();
    assert.ok(ehlo.includes("250-STARTTLS"), JSON.stringify(ehlo));
    assert.ok(!ehlo.some((l) => /AUTH/.test(l)), JSON.stringify(ehlo));
  } finally {
    client.close();
  }
});

test("TLS 1.1 is refused, TLS 1.2 and 1.3 are accepted", TIMEOUT, async () => {
  // SECLEVEL=0 lets OpenSSL 3 offer TLS 1.1 at all, so the refusal is the server's.
  const old = sClient([
    "-starttls",
    "smtp",
    "-connect",
    `127.0.0.1:${smtpPort}`,
    "-crlf",
    "-brief",
    "-tls1_1",
    "-cipher",
    "DEFAULT@SECLEVEL=0",
  ]);
  const oldCode = await old.finish();
  assert.notEqual(oldCode, 0, old.output());
  assert.doesNotMatch(old.output(), /CONNECTION ESTABLISHED/);
  for (const [flag, version] of [["-tls1_2", "TLSv1.2"], ["-tls1_3", "TLSv1.3"]] as const) {
    const ssl = sClient([
      "-starttls",
      "smtp",
      "-connect",
      `127.0.0.1:${smtpPort}`,
      "-crlf",
      "-brief",
      flag,
    ]);
    await ssl.waitFor(/Protocol version: TLSv1\.\d/);
    assert.match(ssl.output(), new RegExp(`Protocol version: ${version.replace(".", "\\.")}`));
    ssl.write("EHLO localhost\n");
    await ssl.waitFor(EHLO_REPLY);
    // Lower case: without -quiet, s_client reads a line starting with "Q" as its own quit.
    ssl.write("quit\n");
    await ssl.waitFor(/^221 /m);
    await ssl.finish();
  }
});

test(
  "implicit TLS listener: openssl s_client without -starttls gets 220 over TLS",
  TIMEOUT,
  async () => {
    const ssl = sClient(["-connect", `127.0.0.1:${implicitPort}`, "-crlf", "-quiet"]);
    await ssl.waitFor(/^220 .*ESMTP Postino/m);
    ssl.write("EHLO localhost\n");
    await ssl.waitFor(EHLO_REPLY);
    const ehlo = EHLO_REPLY.exec(ssl.output())?.[0] ?? "";
    assert.match(ehlo, /^250-AUTH PLAIN LOGIN\r?$/m);
    assert.doesNotMatch(ehlo, /STARTTLS/);
    ssl.write("QUIT\n");
    await ssl.waitFor(/^221 /m);
    await ssl.finish();
  },
);

test("implicit TLS listener: a plaintext client gets no SMTP greeting", TIMEOUT, async () => {
  const client = await SmtpConn.connect(implicitPort);
  try {
    await client.write("EHLO client.example\r\n");
    await client.waitClosed(15_000);
    assert.doesNotMatch(client.unread, /^220 /m);
  } finally {
    client.close();
  }
});

/**
 * After the 220 to STARTTLS: does the handshake on the same socket and
 * checks that the plaintext pipelined behind STARTTLS (`RSET`, `MAIL
 * FROM:<evil@x>`) never ran, and that the session starts over.
 */
async function assertInjectionDiscarded(client: SmtpConn): Promise<void> {
  await client.startTls();
  // Had the injected MAIL run, this RCPT would be accepted.
  assert.match(await client.command("RCPT TO:<alice@localhost>"), /^503 5\.5\.1/);
  // The EHLO from before TLS is forgotten as well (RFC 3207 §4.2).
  assert.match(await client.command("MAIL FROM:<bob@example.org>"), /^503 5\.5\.1/);
  assert.match(await client.command("EHLO client.example"), /^250 /);
  assert.match(await client.command("MAIL FROM:<bob@example.org>"), /^250 /);
  assert.match(await client.command("RCPT TO:<alice@localhost>"), /^250 /);
  assert.match(await client.command("QUIT"), /^221 /);
}

const INJECTED = "STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x>\r\n";

test(
  "STARTTLS injection (CVE-2011-0411): plaintext pipelined after STARTTLS is discarded, state resets",
  TIMEOUT,
  async () => {
    const client = await SmtpConn.connect(smtpPort);
    try {
      assert.match(await client.last(), /^220 /);
      assert.match(await client.command("EHLO x"), /^250 /);
      await client.write(INJECTED);
      assert.match(await client.last(), /^220 2\.0\.0/);
      await assertInjectionDiscarded(client);
    } finally {
      client.close();
    }
    assert.doesNotMatch(server.output(), /evil@x/);
  },
);

test(
  "STARTTLS injection with EHLO in the same write: the injected MAIL never runs",
  TIMEOUT,
  async () => {
    const client = await SmtpConn.connect(smtpPort);
    try {
      assert.match(await client.last(), /^220 /);
      await client.write(`EHLO x\r\n${INJECTED}`);
      const first = await client.last();
      if (first.startsWith("554 ")) {
        // Pipelining before EHLO's reply offered PIPELINING: refused outright
        // (early-talker rule), which also keeps the injected MAIL from running.
        assert.match(first, /^554 5\.5\.0 /);
        await client.waitClosed();
        assert.equal(client.unread, "");
      } else {
        assert.match(first, /^250 /);
        assert.match(await client.last(), /^220 2\.0\.0/);
        await assertInjectionDiscarded(client);
      }
    } finally {
      client.close();
    }
    assert.doesNotMatch(server.output(), /evil@x/);
  },
);

test("STARTTLS twice is refused, and so are STARTTLS arguments", TIMEOUT, async () => {
  const client = await openSession(smtpPort);
  try {
    assert.match(await client.command("STARTTLS now"), /^501 5\.5\.4/);
    assert.match(await client.command("STARTTLS"), /^220 /);
    await client.startTls();
    assert.match(await client.command("EHLO client.example"), /^250 /);
    assert.match(await client.command("STARTTLS"), /^502 5\.5\.1/);
  } finally {
    client.close();
  }
});

test(
  "Received says ESMTPS with the TLS version and cipher, and ESMTPSA after AUTH",
  TIMEOUT,
  async () => {
    const plain = await openSession(smtpPort, { starttls: true });
    try {
      assert.match(
        await sendOn(plain, "received-esmtps", "someone@example.org", ALICE.user),
        /^250 2\.0\.0/,
      );
    } finally {
      plain.close();
    }
    const received = await storedReceived(server, ALICE.user, "received-esmtps");
    assert.match(received, /\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)/);
    assert.match(received, / with ESMTPS id /);

    const authed = await openSession(submissionPort, { starttls: true, auth: ALICE });
    try {
      assert.match(await sendOn(authed, "received-esmtpsa", ALICE.user, BOB.user), /^250 2\.0\.0/);
    } finally {
      authed.close();
    }
    const withAuth = await storedReceived(server, BOB.user, "received-esmtpsa");
    assert.match(withAuth, /\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)/);
    assert.match(withAuth, / with ESMTPSA id /);

    const implicit = await openSession(implicitPort, { implicitTls: true, auth: BOB });
    try {
      assert.match(
        await sendOn(implicit, "received-implicit", BOB.user, ALICE.user),
        /^250 2\.0\.0/,
      );
    } finally {
      implicit.close();
    }
    const viaImplicit = await storedReceived(server, ALICE.user, "received-implicit");
    assert.match(viaImplicit, /\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)/);
    assert.match(viaImplicit, / with ESMTPSA id /);
  },
);

test("Python smtplib: starttls(), login() and sendmail() deliver", TIMEOUT, async () => {
  const script = `
import smtplib, sys
port, user, password, to, token = sys.argv[1:]
s = smtplib.SMTP("127.0.0.1", int(port), local_hostname="localhost", timeout=15)
s.starttls()
s.ehlo("localhost")
assert "auth" in s.esmtp_features, s.esmtp_features
print(s.login(user, password))
msg = "From: <%s>\\r\\nTo: <%s>\\r\\nSubject: %s\\r\\n\\r\\nbody %s\\r\\n" % (user, to, token, token)
print(s.sendmail(user, [to], msg))
s.quit()
`;
  const out = await python(script, [
    String(submissionPort),
    ALICE.user,
    ALICE.password,
    BOB.user,
    "python-starttls-login",
  ]);
  assert.match(out, /\(235, b'2\.7\.0 /);
  const received = await storedReceived(server, BOB.user, "python-starttls-login");
  assert.match(received, / with ESMTPSA id /);
});

test("nodemailer secure: true on the implicit TLS port logs in and delivers", TIMEOUT, async () => {
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port: implicitPort,
    secure: true,
    name: "localhost",
    auth: { user: BOB.user, pass: BOB.password },
    tls: { rejectUnauthorized: false },
  });
  try {
    const info = await transport.sendMail({
      from: BOB.user,
      to: ALICE.user,
      subject: "nodemailer-implicit",
      text: "body nodemailer-implicit",
    });
    assert.deepEqual(info.accepted, [ALICE.user]);
    assert.match(info.response, /^250 2\.0\.0/);
  } finally {
    transport.close();
  }
  const received = await storedReceived(server, ALICE.user, "nodemailer-implicit");
  assert.match(received, / with ESMTPSA id /);
});

test(
  "nodemailer requireTLS: true on the submission port logs in and delivers",
  TIMEOUT,
  async () => {
    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port: submissionPort,
      secure: false,
      requireTLS: true,
      name: "localhost",
      auth: { user: ALICE.user, pass: ALICE.password },
      tls: { rejectUnauthorized: false },
    });
    try {
      const info = await transport.sendMail({
        from: ALICE.user,
        to: BOB.user,
        subject: "nodemailer-requiretls",
        text: "body nodemailer-requiretls",
      });
      assert.deepEqual(info.accepted, [BOB.user]);
    } finally {
      transport.close();
    }
    const received = await storedReceived(server, BOB.user, "nodemailer-requiretls");
    assert.match(received, /\(using TLSv1\.[23] with cipher /);
    assert.match(received, / with ESMTPSA id /);
  },
);

/** The fingerprint a fresh STARTTLS connection to `port` sees. */
async function starttlsFingerprint(port: number): Promise<string> {
  const client = await SmtpConn.connect(port);
  try {
    assert.match(await client.last(), /^220 /);
    assert.match(await client.command("EHLO client.example"), /^250 /);
    assert.match(await client.command("STARTTLS"), /^220 /);
    const secure = await client.startTls();
    const fingerprint = secure.getPeerCertificate().fingerprint256;
    assert.match(await client.command("QUIT"), /^221 /);
    return fingerprint;
  } finally {
    client.close();
  }
}

/** The fingerprint a fresh implicit-TLS connection to `port` sees. */
async function implicitFingerprint(port: number): Promise<string> {
  const client = await SmtpConn.connect(port, { tls: true });
  try {
    assert.match(await client.last(), /^220 /);
    const fingerprint = (client.socket as TLSSocket).getPeerCertificate()
      .fingerprint256;
    assert.match(await client.command("QUIT"), /^221 /);
    return fingerprint;
  } finally {
    client.close();
  }
}

/** Counts the reload outcomes (`reloaded` or `reload_failed`) in the output. */
function reloads(output: string): string[] {
  return output.split("\n").filter((l) => / (reloaded|reload_failed) /.test(l));
}

/** Sends SIGHUP and waits for the reload's outcome line; returns it. */
async function reload(running: RunningServer): Promise<string> {
  const before = reloads(running.output()).length;
  process.kill(running.child.pid as number, "SIGHUP");
  await running.waitFor(new RegExp(`(?: (?:reloaded|reload_failed) [\\s\\S]*?){${before + 1}}`));
  return reloads(running.output())[before] as string;
}

/** A server with its own certificates, for the reload tests. */
async function reloadServer(): Promise<
  { running: RunningServer; certs: TestCerts; smtp: number; implicit: number }
> {
  const own = makeCerts();
  const running = await startServer({
    users: [`${ALICE.user}:${ALICE.password}`],
    config: tlsConfig(own) + `tls_listen = ["127.0.0.1:0"]\n`,
  });
  const [smtp = 0, implicit = 0] = await waitForListeners(running, 2);
  return { running, certs: own, smtp, implicit };
}

test(
  "SIGHUP with a renewed certificate: new connections get it, a live session keeps working",
  TIMEOUT,
  async () => {
    const { running, certs: own, smtp, implicit } = await reloadServer();
    try {
      assert.equal(await starttlsFingerprint(smtp), own.fingerprint256);
      // A session opened before the renewal, mid-way through a transaction.
      const live = await openSession(smtp, { starttls: true });
      try {
        const oldPeer = (live.socket as TLSSocket).getPeerCertificate();
        assert.equal(oldPeer.fingerprint256, own.fingerprint256);
        assert.match(await live.command("MAIL FROM:<someone@example.org>"), /^250 /);

        const renewed = makeCerts({ dir: own.dir, commonName: "renewed.localhost" });
        assert.notEqual(renewed.fingerprint256, own.fingerprint256);
        assert.match(await reload(running), / reloaded /);

        assert.equal(await starttlsFingerprint(smtp), renewed.fingerprint256);
        assert.equal(await implicitFingerprint(implicit), renewed.fingerprint256);

        // The old session still works, on its old certificate.
        assert.match(await live.command(`RCPT TO:<${ALICE.user}>`), /^250 /);
        assert.match(await live.command("DATA"), /^354 /);
        assert.match(await live.command(`${message("before-reload")}.`), /^250 2\.0\.0/);
        assert.match(await live.command("NOOP"), /^250 /);
        assert.match(await live.command("QUIT"), /^221 /);
      } finally {
        live.close();
      }
      await running.settled();
      assert.equal(maildirFilesWith(running.dataDir, ALICE.user, "before-reload").length, 1);
    } finally {
      await running.stop();
      rmSync(running.dataDir, { recursive: true, force: true });
      rmSync(own.dir, { recursive: true, force: true });
    }
  },
);

test(
  "SIGHUP with a broken certificate file: reload_failed, and the old certificate is still served",
  TIMEOUT,
  async () => {
    const { running, certs: own, smtp, implicit } = await reloadServer();
    try {
      writeFileSync(own.certPath, "-----BEGIN CERTIFICATE-----\nnot a certificate\n");
      const outcome = await reload(running);
      assert.match(
        outcome,
        / reload_failed /,
        "a certificate that does not parse must fail the reload",
      );
      // The old certificate must still be served, on both kinds of listener.
      const served = async (kind: string, fingerprint: () => Promise<string>) => {
        try {
          return await fingerprint();
        } catch (error) {
          assert.fail(`${kind} handshake failed after the bad reload: ${error}`);
        }
      };
      assert.equal(await served("STARTTLS", () => starttlsFingerprint(smtp)), own.fingerprint256);
      assert.equal(
        await served("implicit TLS", () => implicitFingerprint(implicit)),
        own.fingerprint256,
      );
    } finally {
      await running.stop();
      rmSync(running.dataDir, { recursive: true, force: true });
      rmSync(own.dir, { recursive: true, force: true });
    }
  },
);

test(
  "a client that leaves or stalls after '220 Ready to start TLS' does not keep its session",
  TIMEOUT,
  async () => {
    const own = makeCerts();
    // A short shutdown_grace bounds stop() even while the bug below holds a session.
    const running = await startServer({
      config: tlsConfig(own) + "idle_timeout = 2\nshutdown_grace = 1\n",
    });
    const disconnects = () => (running.output().match(/ disconnect conn=/g) ?? []).length;
    try {
      // Leaves: the TCP connection closes without a TLS handshake.
      const leaver = await openSession(running.port);
      assert.match(await leaver.command("STARTTLS"), /^220 /);
      leaver.close();
      await running.waitFor(/ disconnect conn=/, 5_000).catch(() => {
        assert.fail("the session of a client gone after STARTTLS's 220 never ended");
      });
      // Stalls: connected but silent, never starting the handshake. The
      // handshake must be bounded like any other wait (idle_timeout is 2 s).
      const staller = await openSession(running.port);
      assert.match(await staller.command("STARTTLS"), /^220 /);
      const before = disconnects();
      try {
        await staller.waitClosed(8_000);
      } catch {
        assert.fail("a client silent after STARTTLS's 220 was never timed out");
      } finally {
        staller.close();
      }
      assert.ok(disconnects() > before);
    } finally {
      await running.stop();
      rmSync(running.dataDir, { recursive: true, force: true });
      rmSync(own.dir, { recursive: true, force: true });
    }
  },
);

// A live login on the plain port too, so a regression that ties AUTH to the
// submission listener is caught here as well.
test("AUTH works after STARTTLS on the port-25 listener", TIMEOUT, async () => {
  const client = await openSession(smtpPort, { starttls: true });
  try {
    assert.match(
      await client.command(`AUTH PLAIN ${plainResponse(ALICE.user, ALICE.password)}`),
      /^235 2\.7\.0/,
    );
  } finally {
    client.close();
  }
});
