/**
 * Real SMTP clients (nodemailer, Python's smtplib, swaks) against one real
 * server. Each test checks the stored Maildir copy byte for byte: after the
 * trace fields we add (Return-Path, Delivered-To, Received), the message is
 * exactly what the client sent, and the Received field carries the queue id
 * the client was given.
 *
 * @module
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import nodemailer from "nodemailer";
import { type RunningServer, startServer, tempDir } from "./helpers/server.ts";

const TIMEOUT = { timeout: 60_000 };
const USERS = ["alice@localhost", "bob@localhost", "zoë@localhost", "carol@localhost"];

let started: Promise<RunningServer> | undefined;
/** The one server every test here talks to, started on first use. */
function server(): Promise<RunningServer> {
  started ??= startServer({ users: USERS });
  return started;
}

const scratch = tempDir("postino-clients-");

after(async () => {
  if (started) {
    const running = await started;
    await running.stop();
    rmSync(running.dataDir, { recursive: true, force: true });
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** One stored copy, split into our trace fields and the client's message. */
interface StoredCopy {
  returnPath: string;
  deliveredTo: string;
  received: string;
  /** The message as the client sent it, as latin1 text (one char per byte). */
  message: string;
}

/**
 * Every file in the `new/` folder of `address`'s Maildir, oldest name first,
 * once every message the server queued so far has had its delivery attempt
 * (delivery runs from the spool after the 250 reply).
 */
async function storedFiles(running: RunningServer, address: string): Promise<string[]> {
  await running.settled();
  const at = address.lastIndexOf("@");
  const dir = join(running.dataDir, "mail", address.slice(at + 1), address.slice(0, at), "new");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().map((name) => join(dir, name));
}

/** Reads a stored copy and splits off the three trace fields Postino adds. */
function readCopy(path: string): StoredCopy {
  const text = readFileSync(path).toString("latin1");
  const fields: string[] = [];
  let offset = 0;
  for (let i = 0; i < 3; i++) {
    let end = text.indexOf("\r\n", offset) + 2;
    // Folded continuation lines begin with white space (RFC 5322 §2.2.3).
    while (text[end] === " " || text[end] === "\t") end = text.indexOf("\r\n", end) + 2;
    assert.ok(end > offset + 1, `trace field ${i} is not terminated in ${JSON.stringify(text)}`);
    fields.push(text.slice(offset, end));
    offset = end;
  }
  const [returnPath = "", deliveredTo = "", received = ""] = fields;
  assert.match(returnPath, /^Return-Path: <[^>]*>\r\n$/);
  assert.match(deliveredTo, /^Delivered-To: \S+\r\n$/);
  assert.match(received, /^Received: /);
  return { returnPath, deliveredTo, received, message: text.slice(offset) };
}

/** The only stored copy for `address`; fails if there is not exactly one. */
async function onlyCopy(running: RunningServer, address: string): Promise<StoredCopy> {
  const files = await storedFiles(running, address);
  assert.equal(files.length, 1, `expected one copy for ${address}, found ${files.length}`);
  return readCopy(files[0] as string);
}

/** UTF-8 text as latin1 (one char per byte), to compare with a stored copy. */
function bytesOf(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** Runs a program and returns its stdout; fails with its stderr. */
function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} failed: ${error.message}\n${stderr}\n${stdout}`));
      else resolve(String(stdout));
    });
  });
}

/** Removes earlier copies (once delivered) so each test sees only its own. */
async function clearMailboxes(running: RunningServer): Promise<void> {
  for (const user of USERS) for (const file of await storedFiles(running, user)) rmSync(file);
}

test(
  "nodemailer delivers a multi-recipient UTF-8 message with an attachment byte for byte",
  TIMEOUT,
  async () => {
    const running = await server();
    const { port } = running;
    await clearMailboxes(running);
    const attachment = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 256));
    const recipients = ["alice@localhost", "bob@localhost", "zoë@localhost"];
    // Compose with nodemailer itself, keep the bytes, then send those bytes.
    const composer = nodemailer.createTransport({
      streamTransport: true,
      buffer: true,
      newline: "windows",
    });
    const composed = await composer.sendMail({
      from: "Sender <sender.nm@localhost>",
      to: recipients,
      subject: "Grüße aus Köln ✓ — ünïcödé",
      text: "Hallo zusammen,\n\nsiehe Anhang.\n.\n..\n",
      attachments: [{ filename: "data.bin", content: attachment }],
    });
    const raw = composed.message as Buffer;
    assert.match(raw.toString("latin1"), /Content-Disposition: attachment; filename=data\.bin/);

    const transport = nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: false,
      ignoreTLS: true,
      name: "localhost",
    });
    const info = await transport.sendMail({
      envelope: { from: "sender.nm@localhost", to: recipients },
      raw,
    });
    transport.close();
    assert.deepEqual([...info.accepted].sort(), [...recipients].sort());
    assert.deepEqual(info.rejected, []);
    const queueId = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(info.response)?.[1];
    assert.ok(queueId, `no queue id in ${info.response}`);

    for (const rcpt of recipients) {
      const copy = await onlyCopy(running, rcpt);
      assert.equal(copy.message, raw.toString("latin1"), `message stored for ${rcpt}`);
      assert.equal(copy.returnPath, "Return-Path: <sender.nm@localhost>\r\n");
      assert.equal(copy.deliveredTo, bytesOf(`Delivered-To: ${rcpt}\r\n`));
      assert.match(copy.received, new RegExp(`\\bid ${queueId}\\b`));
      // A non-ASCII recipient makes nodemailer use SMTPUTF8 (RFC 6531 §4.3: UTF8SMTP).
      assert.match(copy.received, /with UTF8SMTP id/);
      // With several recipients the Received field names none of them.
      assert.doesNotMatch(copy.received, /\bfor </);
    }
  },
);

const PYTHON_SENDMAIL = `
import smtplib, sys
port, sender, rcpt, msg = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = smtplib.SMTP("127.0.0.1", port, local_hostname="localhost")
refused = s.sendmail(sender, [rcpt], msg.encode("utf-8"))
s.quit()
print(repr(refused))
`;

test("Python smtplib sendmail() delivers the message byte for byte", TIMEOUT, async () => {
  const running = await server();
  const { port } = running;
  await clearMailboxes(running);
  const message = "From: py <py.sendmail@localhost>\r\nTo: alice@localhost\r\n" +
    "Subject: smtplib sendmail\r\n\r\nfirst line\r\n.starts with a dot\r\n.\r\nlast line\r\n";
  const out = await run("python3", [
    "-c",
    PYTHON_SENDMAIL,
    String(port),
    "py.sendmail@localhost",
    "alice@localhost",
    message,
  ]);
  assert.equal(out.trim(), "{}");
  const logged = /queued conn=\S+ id=(\S+) from=py\.sendmail@localhost/;
  await running.waitFor(logged);
  const queueId = logged.exec(running.output())?.[1];
  const copy = await onlyCopy(running, "alice@localhost");
  assert.equal(copy.message, message);
  assert.equal(copy.returnPath, "Return-Path: <py.sendmail@localhost>\r\n");
  assert.match(
    copy.received,
    new RegExp(`with ESMTP id ${queueId}\\r\\n\\tfor <alice@localhost>;`),
  );
});

// send_message() flattens the message exactly like this before sendmail();
// printing the same flattening tells the test what went on the wire.
const PYTHON_SEND_MESSAGE = `
import base64, email.generator, email.message, io, smtplib, sys
port = int(sys.argv[1])
lines = []
for i in range(4000):
    if i % 7 == 0:
        lines.append(".dot-led line %d" % i)
    elif i % 11 == 0:
        lines.append(".")
    elif i % 13 == 0:
        lines.append("..two dots %d" % i)
    else:
        lines.append("plain line %d with some padding text to make it longer" % i)
msg = email.message.EmailMessage()
msg["From"] = "py.send_message@localhost"
msg["To"] = "bob@localhost, carol@localhost"
msg["Subject"] = "smtplib send_message"
msg.set_content("\\n".join(lines) + "\\n")
flat = io.BytesIO()
email.generator.BytesGenerator(flat, policy=msg.policy.clone(utf8=False)).flatten(msg, linesep="\\r\\n")
s = smtplib.SMTP("127.0.0.1", port, local_hostname="localhost")
refused = s.send_message(msg)
s.quit()
print(repr(refused))
print(base64.b64encode(flat.getvalue()).decode())
`;

test(
  "Python smtplib send_message() keeps a long body with dot-led lines exact",
  TIMEOUT,
  async () => {
    const running = await server();
    const { port } = running;
    await clearMailboxes(running);
    const out = await run("python3", ["-c", PYTHON_SEND_MESSAGE, String(port)]);
    const [refused, encoded = ""] = out.trim().split("\n");
    assert.equal(refused, "{}");
    const sent = Buffer.from(encoded, "base64").toString("latin1");
    assert.ok(sent.length > 150_000, `the body should be long, got ${sent.length} bytes`);
    assert.match(sent, /\r\n\.\r\n/);
    assert.match(sent, /\r\n\.\.two dots/);
    const logged = /queued conn=\S+ id=(\S+) from=py\.send_message@localhost/;
    await running.waitFor(logged);
    const queueId = logged.exec(running.output())?.[1];
    for (const rcpt of ["bob@localhost", "carol@localhost"]) {
      const copy = await onlyCopy(running, rcpt);
      assert.equal(copy.message, sent, `message stored for ${rcpt}`);
      assert.match(copy.received, new RegExp(`\\bid ${queueId};`));
    }
  },
);

/**
 * What swaks put between `354` and the final `.`, from its own transcript
 * (` -> ` lines), dot-unstuffed (RFC 5321 §4.5.2) and joined with CRLF.
 */
function swaksData(transcriptText: string): string {
  const lines = transcriptText.split("\n").map((l) => l.replace(/\r$/, ""));
  const start = lines.findIndex((l) => /^<[-~*]+ +354 /.test(l));
  assert.ok(start !== -1, `no 354 in swaks output:\n${transcriptText}`);
  const data: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!/^ *[-~*]*> /.test(line)) continue;
    const text = line.replace(/^ *[-~*]*> /, "");
    if (text === ".") break;
    data.push(text.startsWith(".") ? text.slice(1) : text);
  }
  return data.map((l) => l + "\r\n").join("");
}

function swaksQueueId(transcriptText: string): string {
  const id = /<[-~*]+ +250 2\.0\.0 Ok: queued as (\S+)/.exec(transcriptText)?.[1];
  assert.ok(id, `no queue id in swaks output:\n${transcriptText}`);
  return id;
}

test("swaks delivers a body with dot lines exactly as it sent it", TIMEOUT, async () => {
  const running = await server();
  const { port } = running;
  await clearMailboxes(running);
  const out = await run("swaks", [
    "--server",
    "127.0.0.1",
    "--port",
    String(port),
    "--helo",
    "localhost",
    "--from",
    "swaks.body@localhost",
    "--to",
    "alice@localhost",
    "--body",
    "first\n.\n..two\n.three\nlast",
  ]);
  const copy = await onlyCopy(running, "alice@localhost");
  assert.equal(copy.message, swaksData(out));
  // Independently of swaks's transcript: the body itself is intact.
  assert.match(copy.message, /\r\n\r\nfirst\r\n\.\r\n\.\.two\r\n\.three\r\nlast\r\n/);
  assert.match(copy.received, new RegExp(`with ESMTP id ${swaksQueueId(out)}\\r\\n`));
});

test(
  "swaks --pipeline delivers to two recipients with one pipelined envelope",
  TIMEOUT,
  async () => {
    const running = await server();
    const { port } = running;
    await clearMailboxes(running);
    const dataFile = join(scratch, "pipeline.eml");
    writeFileSync(
      dataFile,
      "Subject: pipelined\nFrom: swaks.pipe@localhost\n\nbody line\n.\nend\n",
    );
    const out = await run("swaks", [
      "--server",
      "127.0.0.1",
      "--port",
      String(port),
      "--helo",
      "localhost",
      "--pipeline",
      "--from",
      "swaks.pipe@localhost",
      "--to",
      "bob@localhost,carol@localhost",
      "--data",
      `@${dataFile}`,
    ]);
    // Pipelined: MAIL, both RCPTs and DATA went out before any of their replies.
    assert.match(out, / -> MAIL FROM:[^\n]*\n -> RCPT TO:[^\n]*\n -> RCPT TO:[^\n]*\n -> DATA\n/);
    const queueId = swaksQueueId(out);
    const sent = swaksData(out);
    assert.match(
      sent,
      /^Subject: pipelined\r\nFrom: swaks.pipe@localhost\r\n\r\nbody line\r\n\.\r\nend\r\n/,
    );
    for (const rcpt of ["bob@localhost", "carol@localhost"]) {
      const copy = await onlyCopy(running, rcpt);
      assert.equal(copy.message, sent);
      assert.match(copy.received, new RegExp(`\\bid ${queueId};`));
    }
  },
);
