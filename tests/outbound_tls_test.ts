/**
 * Outbound STARTTLS against real TLS remotes: the real server relays (trusted
 * client, `[transport]` entries) to small remotes in this file that speak
 * SMTP on node:net and switch to node:tls after STARTTLS. Certificates are
 * made with openssl: a self-signed one, a test CA, a leaf it signed for
 * 127.0.0.1 and one it signed for another name.
 *
 * Each policy is checked from both ends: the server's log (`delivered … tls=`,
 * `deferred … status=4.7.x`) and what the remote saw (TLS or not, every byte of
 * the message, and no MAIL at all when the policy forbids plaintext).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { Duplex } from "node:stream";
import { before, test } from "node:test";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { assertSameApartFromReceived, sendMail } from "./helpers/remote_sink.ts";
import { postino, startServer, tempDir } from "./helpers/server.ts";

const HOSTNAME = "postino.test";
const TRUSTED = `hostname = "${HOSTNAME}"\nrelay_networks = ["127.0.0.1/32"]\n`;

const HAVE_OPENSSL = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

// ---------------------------------------------------------------------------
// Certificates.

interface Pair {
  cert: string;
  key: string;
}

let certs: { caPath: string; selfSigned: Pair; caSigned: Pair; wrongName: Pair };

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

before(() => {
  if (!HAVE_OPENSSL) return;
  const dir = tempDir("postino-outbound-tls-");
  const path = (name: string) => join(dir, name);
  const pair = (name: string): Pair => ({
    cert: readFileSync(path(`${name}.pem`), "utf8"),
    key: readFileSync(path(`${name}.key`), "utf8"),
  });
  // Self-signed, for the right address: untrusted, whatever the name.
  openssl([
    "req",
    "-x509",
    ...EC,
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout",
    path("self.key"),
    "-out",
    path("self.pem"),
  ]);
  // The test CA and two leaves it signed.
  openssl([
    "req",
    "-x509",
    ...EC,
    "-days",
    "2",
    "-subj",
    "/CN=Postino Outbound Test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout",
    path("ca.key"),
    "-out",
    path("ca.pem"),
  ]);
  const leaf = (name: string, subject: string, san: string) => {
    openssl([
      "req",
      "-new",
      ...EC,
      "-subj",
      subject,
      "-keyout",
      path(`${name}.key`),
      "-out",
      path(`${name}.csr`),
    ]);
    writeFileSync(path(`${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
    openssl([
      "x509",
      "-req",
      "-in",
      path(`${name}.csr`),
      "-CA",
      path("ca.pem"),
      "-CAkey",
      path("ca.key"),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      path(`${name}.ext`),
      "-out",
      path(`${name}.pem`),
    ]);
    return pair(name);
  };
  certs = {
    caPath: path("ca.pem"),
    selfSigned: pair("self"),
    caSigned: leaf("leaf", "/CN=127.0.0.1", "IP:127.0.0.1,DNS:localhost"),
    wrongName: leaf("wrong", "/CN=other.test", "DNS:other.test"),
  };
});

// ---------------------------------------------------------------------------
// A TLS-capable remote MTA.

interface RemoteOptions {
  /** Offer STARTTLS and serve this certificate. */
  tls?: Pair;
  /** After `220` to STARTTLS: a real handshake, garbage, or a hang-up. */
  handshake?: "ok" | "garbage" | "close";
}

interface Transaction {
  mail: string;
  recipients: string[];
  /** The message with dot-stuffing undone, without the final `.` line. */
  data: Buffer;
  /** The TLS version the transaction ran under, or `none`. */
  tls: string;
}

interface RemoteSession {
  commands: string[];
  /** The TLS version negotiated, once the handshake is done. */
  tls: string | undefined;
}

interface TlsRemote {
  port: number;
  sessions: RemoteSession[];
  transactions: Transaction[];
  close(): Promise<void>;
}

async function startRemote(options: RemoteOptions = {}): Promise<TlsRemote> {
  const sockets = new Set<Socket>();
  const context = options.tls ? createSecureContext(options.tls) : undefined;
  const remote: TlsRemote = {
    port: 0,
    sessions: [],
    transactions: [],
    close: () => Promise.resolve(),
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const session: RemoteSession = { commands: [], tls: undefined };
    remote.sessions.push(session);
    serve(socket, session, remote, options, context);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  remote.port = address.port;
  remote.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return remote;
}

function serve(
  plain: Socket,
  session: RemoteSession,
  remote: TlsRemote,
  options: RemoteOptions,
  context: SecureContext | undefined,
): void {
  let out: Socket = plain;
  let buffer = Buffer.alloc(0);
  let inData = false;
  let mail = "";
  let recipients: string[] = [];
  const reply = (...lines: string[]) => {
    if (!out.destroyed) out.write(lines.map((l) => `${l}\r\n`).join(""));
  };

  const onData = (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (inData) {
        const end = buffer.subarray(0, 3).toString("latin1") === ".\r\n"
          ? 0
          : buffer.indexOf("\r\n.\r\n");
        if (end === -1) return;
        const raw = end === 0 ? "" : buffer.subarray(0, end + 2).toString("latin1");
        buffer = buffer.subarray(end === 0 ? 3 : end + 5);
        inData = false;
        remote.transactions.push({
          mail,
          recipients,
          data: Buffer.from(raw.replace(/^\./gm, ""), "latin1"),
          tls: session.tls ?? "none",
        });
        mail = "";
        recipients = [];
        reply("250 2.0.0 Ok: queued");
        continue;
      }
      const end = buffer.indexOf("\r\n");
      if (end === -1) return;
      const line = buffer.subarray(0, end).toString("latin1");
      buffer = buffer.subarray(end + 2);
      session.commands.push(line);
      const verb = (line.split(/[ :]/)[0] ?? "").toUpperCase();
      if (verb === "EHLO") {
        const keywords = ["remote.test greets you", "PIPELINING", "8BITMIME"];
        if (context && session.tls === undefined) keywords.push("STARTTLS");
        reply(...keywords.map((k, i) => `250${i === keywords.length - 1 ? " " : "-"}${k}`));
      } else if (verb === "STARTTLS" && context && session.tls === undefined) {
        reply("220 2.0.0 Ready to start TLS");
        // RFC 3207: anything pipelined behind STARTTLS is thrown away.
        buffer = Buffer.alloc(0);
        if (options.handshake === "garbage") {
          plain.end("this is not a TLS record\r\n");
          return;
        }
        if (options.handshake === "close") {
          plain.destroy();
          return;
        }
        // The plaintext socket keeps its one 'data' listener and feeds the TLS
        // layer through a Duplex: handing the socket itself to TLSSocket after
        // it has been read from sometimes lost the ClientHello on Deno.
        const feed = new Duplex({
          read() {},
          write(chunk: Buffer, _encoding, callback) {
            plain.write(chunk, callback);
          },
          final(callback) {
            plain.end();
            callback();
          },
        });
        tlsFeed = feed;
        plain.on("end", () => feed.push(null));
        const secure = new TLSSocket(feed, { isServer: true, secureContext: context });
        secure.on("error", () => plain.destroy());
        secure.on("secure", () => session.tls = secure.getProtocol() ?? "unknown");
        secure.on("data", onData);
        out = secure;
        return;
      } else if (verb === "MAIL") {
        mail = line;
        recipients = [];
        reply("250 2.1.0 Ok");
      } else if (verb === "RCPT") {
        recipients.push(/<([^>]*)>/.exec(line)?.[1] ?? "");
        reply("250 2.1.5 Ok");
      } else if (verb === "DATA") {
        inData = true;
        reply("354 End data with <CR><LF>.<CR><LF>");
      } else if (verb === "RSET" || verb === "NOOP") {
        reply("250 2.0.0 Ok");
      } else if (verb === "QUIT") {
        reply("221 2.0.0 Bye");
        out.end();
        return;
      } else {
        reply("502 5.5.2 Command not implemented");
      }
    }
  };
  let tlsFeed: Duplex | undefined;
  plain.on("data", (chunk: Buffer) => tlsFeed ? tlsFeed.push(chunk) : onData(chunk));
  reply("220 remote.test ESMTP tls test remote");
}

// ---------------------------------------------------------------------------
// Helpers.

/** A message with lines that need dot-stuffing and a long line. */
function sample(tag: string, to: string): string {
  return [
    "From: Alice <alice@localhost>",
    `To: ${to}`,
    `Subject: outbound tls ${tag}`,
    `Message-ID: <${tag}@localhost>`,
    "",
    `Hello from ${tag}.`,
    ".a line that starts with a dot",
    "..and one with two",
    ".",
    "y".repeat(990),
    "",
    "last line",
    "",
  ].join("\r\n");
}

const logLines = (output: string, event: string, id: string) =>
  output.split("\n").filter((l) => l.includes(` ${event} `) && l.includes(`id=${id}`));

/** `[transport]` and `[tls_policy]` tables for `routes`: domain → [remote, policy]. */
function tables(routes: Record<string, [TlsRemote, string | undefined]>): string {
  const transport = Object.entries(routes).map(([domain, [remote]]) =>
    `"${domain}" = "127.0.0.1:${remote.port}"`
  );
  const policy = Object.entries(routes).filter(([, [, p]]) => p !== undefined).map((
    [domain, [, p]],
  ) => `"${domain}" = "${p}"`);
  return `[transport]\n${transport.join("\n")}\n\n[tls_policy]\n${policy.join("\n")}\n`;
}

/** Sends one message to `to` through the server; returns its queue id and text. */
async function relay(port: number, to: string, tag: string) {
  const data = sample(tag, to);
  const sent = await sendMail(port, { from: "alice@localhost", to: [to], data });
  assert.match(sent.rcpt[0] ?? "", /^250 /);
  assert.ok(sent.id, sent.final);
  return { id: sent.id, data };
}

function assertDelivered(
  output: string,
  id: string,
  tls: RegExp,
): void {
  const lines = logLines(output, "delivered", id);
  assert.equal(lines.length, 1, output);
  assert.match(lines[0] as string, new RegExp(` tls=${tls.source}(\\s|$)`), lines[0]);
}

function assertDeferred(output: string, id: string, status: RegExp, reason: RegExp): void {
  const lines = logLines(output, "deferred", id);
  assert.equal(lines.length, 1, output);
  assert.match(lines[0] as string, new RegExp(` status=${status.source} `), lines[0]);
  assert.match(lines[0] as string, reason, lines[0]);
  assert.equal(logLines(output, "delivered", id).length, 0);
}

/** The one transaction for `to`, checked byte for byte against `data`. */
function arrived(remote: TlsRemote, to: string, data: string): Transaction {
  const found = remote.transactions.filter((t) => t.recipients.includes(to));
  assert.equal(found.length, 1, JSON.stringify(remote.transactions.map((t) => t.recipients)));
  const transaction = found[0] as Transaction;
  assert.match(transaction.mail, /^MAIL FROM:<alice@localhost>/);
  assertSameApartFromReceived(transaction.data.toString("latin1"), data, { hostname: HOSTNAME });
  return transaction;
}

/** No session with the remote got as far as MAIL. */
function neverSent(remote: TlsRemote): void {
  assert.deepEqual(remote.transactions, []);
  for (const session of remote.sessions) {
    assert.ok(
      !session.commands.some((c) => /^(MAIL|RCPT|DATA|BDAT)\b/i.test(c)),
      JSON.stringify(session.commands),
    );
  }
}

// ---------------------------------------------------------------------------

test("opportunistic: encrypts without checking, falls back to plaintext when the handshake fails", {
  skip: !HAVE_OPENSSL,
  timeout: 60_000,
}, async () => {
  const secure = await startRemote({ tls: certs.selfSigned });
  const garbage = await startRemote({ tls: certs.selfSigned, handshake: "garbage" });
  const hangup = await startRemote({ tls: certs.selfSigned, handshake: "close" });
  const plain = await startRemote();
  const off = await startRemote({ tls: certs.selfSigned });
  const server = await startServer({
    config: TRUSTED + tables({
      "secure.test": [secure, undefined], // the default: opportunistic
      "garbage.test": [garbage, "opportunistic"],
      "hangup.test": [hangup, undefined],
      "plain.test": [plain, undefined],
      "off.test": [off, "none"],
    }),
  });
  try {
    const a = await relay(server.port, "a@secure.test", "secure");
    const b = await relay(server.port, "b@garbage.test", "garbage");
    const c = await relay(server.port, "c@hangup.test", "hangup");
    const d = await relay(server.port, "d@plain.test", "plain");
    const e = await relay(server.port, "e@off.test", "off");
    await server.settled(30_000);
    const output = server.output();

    // A self-signed certificate is good enough to encrypt with.
    assertDelivered(output, a.id, /TLSv1\.[23]/);
    const overTls = arrived(secure, "a@secure.test", a.data);
    assert.match(overTls.tls, /^TLSv1\.[23]$/);
    assert.equal(secure.sessions.length, 1);
    assert.ok(secure.sessions[0]?.commands.includes("STARTTLS"));
    // RFC 3207 §4.2: EHLO again inside TLS.
    assert.equal(secure.sessions[0]?.commands.filter((c) => /^EHLO /.test(c)).length, 2);
    const version = /tls=(TLSv1\.[23])/.exec(logLines(output, "delivered", a.id)[0] ?? "")?.[1];
    assert.equal(version, overTls.tls, "the log names the version the remote negotiated");

    // A failed handshake: a new connection, without STARTTLS, and the mail goes in clear.
    for (
      const [remote, to, sent] of [[garbage, "b@garbage.test", b], [
        hangup,
        "c@hangup.test",
        c,
      ]] as const
    ) {
      assertDelivered(output, sent.id, /none/);
      assert.equal(arrived(remote, to, sent.data).tls, "none");
      assert.equal(remote.sessions.length, 2, JSON.stringify(remote.sessions));
      assert.ok(remote.sessions[0]?.commands.includes("STARTTLS"));
      assert.ok(!remote.sessions[1]?.commands.includes("STARTTLS"));
    }
    assert.match(
      logLines(output, "smtp_session", b.id)[0] ?? "",
      /tls=none .*tls_error=.*handshake/,
    );

    // No STARTTLS offered: plaintext.
    assertDelivered(output, d.id, /none/);
    assert.equal(arrived(plain, "d@plain.test", d.data).tls, "none");

    // Policy none: no STARTTLS even though it is offered.
    assertDelivered(output, e.id, /none/);
    assert.equal(arrived(off, "e@off.test", e.data).tls, "none");
    assert.ok(!off.sessions.some((s) => s.commands.includes("STARTTLS")));
  } finally {
    await server.stop();
    await Promise.all([secure, garbage, hangup, plain, off].map((r) => r.close()));
  }
});

test("required: no STARTTLS or a failed handshake defers (4.7.x) and nothing goes in clear", {
  skip: !HAVE_OPENSSL,
  timeout: 60_000,
}, async () => {
  const plain = await startRemote();
  const garbage = await startRemote({ tls: certs.selfSigned, handshake: "garbage" });
  const selfSigned = await startRemote({ tls: certs.selfSigned });
  const server = await startServer({
    config: TRUSTED + tables({
      "plain.test": [plain, "required"],
      // .parent entries (transport and policy alike) cover the subdomains.
      ".garbage.test": [garbage, "required"],
      "self.test": [selfSigned, "required"],
    }),
  });
  try {
    const a = await relay(server.port, "a@plain.test", "required-plain");
    const b = await relay(server.port, "b@mx.garbage.test", "required-garbage");
    const c = await relay(server.port, "c@self.test", "required-self");
    await server.settled(30_000);
    const output = server.output();

    assertDeferred(output, a.id, /4\.7\.4/, /does not offer STARTTLS.*tls_policy required/);
    neverSent(plain);
    assertDeferred(output, b.id, /4\.7\.5/, /TLS handshake failed.*tls_policy required/);
    neverSent(garbage);
    // Exactly one try: no plaintext fallback connection.
    assert.equal(garbage.sessions.length, 1);

    // required does not check the certificate.
    assertDelivered(output, c.id, /TLSv1\.[23]/);
    assert.match(arrived(selfSigned, "c@self.test", c.data).tls, /^TLSv1\.[23]$/);

    // A plaintext connection kept from an opportunistic delivery is never
    // reused for a domain whose policy requires TLS, even to the same host.
    const shared = await startRemote({ tls: certs.selfSigned, handshake: "garbage" });
    const again = await startServer({
      config: TRUSTED + tables({
        "lenient.test": [shared, "opportunistic"],
        "strict.test": [shared, "required"],
      }),
    });
    try {
      const first = await relay(again.port, "x@lenient.test", "lenient");
      await again.settled(30_000);
      assertDelivered(again.output(), first.id, /none/);
      assert.equal(shared.sessions.length, 2); // STARTTLS failed, then plaintext
      const second = await relay(again.port, "y@strict.test", "strict");
      await again.settled(30_000);
      assertDeferred(again.output(), second.id, /4\.7\.5/, /tls_policy required for strict\.test/);
      assert.equal(shared.sessions.length, 3, "a new connection for the strict domain");
      assert.ok(shared.sessions[2]?.commands.includes("STARTTLS"));
      assert.deepEqual(shared.transactions.map((t) => t.recipients), [["x@lenient.test"]]);
    } finally {
      await again.stop();
      await shared.close();
    }

    // The deferred messages stay queued for a later try.
    const listed = await postino(["queue", "list", "--json", "--data-dir", server.dataDir]);
    assert.equal(listed.code, 0, listed.stderr);
    const ids = (JSON.parse(listed.stdout) as { id: string }[]).map((m) => m.id).sort();
    assert.deepEqual(ids, [a.id, b.id].sort());
  } finally {
    await server.stop();
    await Promise.all([plain, garbage, selfSigned].map((r) => r.close()));
  }
});

test("verify: an untrusted or misnamed certificate defers; one from the tls_ca_file CA delivers", {
  skip: !HAVE_OPENSSL,
  timeout: 60_000,
}, async () => {
  const selfSigned = await startRemote({ tls: certs.selfSigned });
  const wrongName = await startRemote({ tls: certs.wrongName });
  const trusted = await startRemote({ tls: certs.caSigned });
  const plain = await startRemote();
  const server = await startServer({
    config: `${TRUSTED}tls_ca_file = "${certs.caPath}"\n` + tables({
      "self.test": [selfSigned, "verify"],
      "wrong.test": [wrongName, "verify"],
      "bank.test": [trusted, "verify"],
      "plain.test": [plain, "verify"],
    }),
  });
  try {
    const a = await relay(server.port, "a@self.test", "verify-self");
    const b = await relay(server.port, "b@wrong.test", "verify-wrong");
    const c = await relay(server.port, "c@bank.test", "verify-bank");
    const d = await relay(server.port, "d@plain.test", "verify-plain");
    await server.settled(30_000);
    const output = server.output();

    assertDeferred(output, a.id, /4\.7\.5/, /TLS handshake failed.*tls_policy verify/);
    neverSent(selfSigned);
    assertDeferred(output, b.id, /4\.7\.5/, /TLS handshake failed.*tls_policy verify/);
    neverSent(wrongName);
    assertDeferred(output, d.id, /4\.7\.4/, /does not offer STARTTLS/);
    neverSent(plain);

    assertDelivered(output, c.id, /TLSv1\.[23]/);
    assert.match(arrived(trusted, "c@bank.test", c.data).tls, /^TLSv1\.[23]$/);
  } finally {
    await server.stop();
    await Promise.all([selfSigned, wrongName, trusted, plain].map((r) => r.close()));
  }
});

test("check-config refuses a bad tls_policy entry, naming the key", async () => {
  const dir = tempDir();
  const file = join(dir, "postino.toml");
  writeFileSync(file, `hostname = "${HOSTNAME}"\n[tls_policy]\n"bank.example" = "strict"\n`);
  const bad = await postino(["check-config", "--config", file, "--data-dir", dir]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /tls_policy.*"bank\.example".*must be one of/);
  writeFileSync(file, `hostname = "${HOSTNAME}"\noutbound_tls = "sometimes"\n`);
  const worse = await postino(["check-config", "--config", file, "--data-dir", dir]);
  assert.notEqual(worse.code, 0);
  assert.match(worse.stderr + worse.stdout, /outbound_tls/);
  writeFileSync(
    file,
    `hostname = "${HOSTNAME}"\noutbound_tls = "none"\n[tls_policy]\n".bank.example" = "verify"\n`,
  );
  const good = await postino(["check-config", "--config", file, "--data-dir", dir]);
  assert.equal(good.code, 0, good.stderr);
});
