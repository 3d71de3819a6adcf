/**
 * SEND, SOML and SAML (RFC 821) against the real server with the
 * `terminal` plugin, read through a real `postino watch` child process:
 * what the watcher prints is what a user sees. Mailbox delivery (SOML
 * without a terminal, SAML) is checked in the Maildir once delivery
 * settled. Without the plugin, SEND is 502 5.5.1.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { after, before, test } from "node:test";
import { postinoCommand, ROOT, type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient, transcript } from "./helpers/smtp_client.ts";

const TIMEOUT = { timeout: 60_000 };

/** A running `postino watch`. */
interface Watcher {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  stop(): Promise<number>;
}

const watchers: Watcher[] = [];
let server: RunningServer;
let plain: RunningServer;

/** Starts `postino watch ADDRESS --data-dir DIR` on the test's runtime. */
function watch(address: string, dataDir: string): Watcher {
  const [cmd, ...base] = postinoCommand();
  const child = spawn(cmd as string, [...base, "watch", address, "--data-dir", dataDir], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => output += d);
  child.stderr?.on("data", (d) => output += d);
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
  const watcher: Watcher = {
    child,
    output: () => output,
    exited,
    async waitFor(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output)) {
        if (Date.now() > deadline) throw new Error(`watch never printed ${pattern}:\n${output}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop() {
      // process.kill, not child.kill: see tests/helpers/server.ts.
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGTERM");
      return exited;
    },
  };
  watchers.push(watcher);
  return watcher;
}

/**
 * Waits until every message the server spooled had a delivery attempt.
 * `server.settled()` would wait for messages that were only shown on a
 * terminal (SEND, SOML), which are logged as queued but never spooled.
 */
async function spooledSettled(timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const output = server.output();
    const terminalOnly = new Set(
      [...output.matchAll(/plugin=terminal .*?\bid=(\S+) .*spooled=false/g)].map((m) => m[1]),
    );
    const queued = [...output.matchAll(/ queued .*?\bid=(\S+)/g)].map((m) => m[1] as string);
    if (
      queued.every((id) =>
        terminalOnly.has(id) || new RegExp(` attempted id=${id}\\b`).test(output)
      )
    ) return;
    if (Date.now() > deadline) throw new Error(`delivery did not settle; output:\n${output}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The messages in a local user's Maildir `new/`. */
function mailbox(address: string): string[] {
  const [local, domain] = address.split("@") as [string, string];
  const dir = join(server.dataDir, "mail", domain, local, "new");
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), "utf8")) : [];
}

/** One SEND-family transaction; returns the reply to the end of DATA. */
async function sendFamily(verb: string, to: string, text: string): Promise<string> {
  const client = await transcript(
    server.port,
    `
    S: 220
    C: EHLO client.example
    S: 250
    C: ${verb} FROM:<carol@example.net>
    S: 250 2.1.0
    C: RCPT TO:<${to}>
    S: 250 2.1.5
    C: DATA
    S: 354
  `,
  );
  await client.send(`Subject: note\r\n\r\n${text}\r\n.`);
  const reply = (await client.reply()).join("\n");
  await client.send("QUIT");
  await client.reply();
  client.close();
  return reply;
}

before(async () => {
  server = await startServer({
    args: ["--plugin", "terminal"],
    users: ["alice@localhost", "bob@localhost"],
  });
  plain = await startServer({ users: ["alice@localhost"] });
});

after(async () => {
  for (const watcher of watchers) await watcher.stop();
  for (const s of [server, plain]) {
    await s.stop();
    rmSync(s.dataDir, { recursive: true, force: true });
  }
});

test("SEND: 250, and postino watch prints the sender, then the text", TIMEOUT, async () => {
  const alice = watch("alice@localhost", server.dataDir);
  await alice.waitFor(/^watching alice@localhost$/m);
  const reply = await sendFamily("SEND", "alice@localhost", "Lunch at noon?\r\nSee you");
  assert.match(reply, /^250 2\.0\.0 Ok: sent to 1 terminal\(s\)$/);
  await alice.waitFor(/See you/);
  assert.match(alice.output(), /^from carol@example\.net:\nLunch at noon\?\nSee you$/m);
  assert.equal(mailbox("alice@localhost").length, 0, "SEND is never spooled");
  assert.equal(await alice.stop(), 0, "watch exits 0 on SIGTERM");
});

test("SEND: a user with no terminal gets 450 4.2.1 at RCPT", TIMEOUT, async () => {
  const client = await transcript(
    server.port,
    `
    S: 220
    C: EHLO client.example
    S: 250
    C: SEND FROM:<carol@example.net>
    S: 250 2.1.0
    C: RCPT TO:<bob@localhost>
    S: 450 4.2.1 <bob@localhost>: user has no terminal
    C: RCPT TO:<nobody@localhost>
    S: 550 5.1.1
    C: RCPT TO:<someone@far.example>
    S: 550 5.7.1
    C: QUIT
    S: 221
  `,
  );
  client.close();
});

test("SOML: the terminal when one is open, the mailbox otherwise", TIMEOUT, async () => {
  const alice = watch("alice@localhost", server.dataDir);
  await alice.waitFor(/^watching alice@localhost$/m);
  assert.match(await sendFamily("SOML", "alice@localhost", "soml to a terminal"), /^250 2\.0\.0/);
  await alice.waitFor(/soml to a terminal/);
  assert.match(await sendFamily("SOML", "bob@localhost", "soml to a mailbox"), /^250 2\.0\.0/);
  await spooledSettled();
  assert.equal(mailbox("alice@localhost").filter((m) => m.includes("soml")).length, 0);
  assert.equal(mailbox("bob@localhost").filter((m) => m.includes("soml to a mailbox")).length, 1);
  await alice.stop();
});

test("SAML: the terminal and the mailbox", TIMEOUT, async () => {
  const alice = watch("alice@localhost", server.dataDir);
  await alice.waitFor(/^watching alice@localhost$/m);
  assert.match(await sendFamily("SAML", "alice@localhost", "saml to both"), /^250 2\.0\.0/);
  await alice.waitFor(/^from carol@example\.net:\nsaml to both$/m);
  await spooledSettled();
  assert.equal(mailbox("alice@localhost").filter((m) => m.includes("saml to both")).length, 1);
  await alice.stop();
});

test(
  "postino watch exits 0 when the server goes away, 1 when it cannot connect",
  TIMEOUT,
  async () => {
    const other = await startServer({ args: ["--plugin", "terminal"], users: ["alice@localhost"] });
    const alice = watch("alice@localhost", other.dataDir);
    await alice.waitFor(/^watching alice@localhost$/m);
    assert.equal(await other.stop(), 0);
    assert.equal(await alice.exited, 0);
    assert.match(alice.output(), /the server went away/);
    assert.equal(existsSync(join(other.dataDir, "postino.sock")), false, "the socket is removed");
    const none = watch("alice@localhost", other.dataDir);
    assert.equal(await none.exited, 1);
    assert.match(none.output(), /cannot reach the server at .*postino\.sock/);
    rmSync(other.dataDir, { recursive: true, force: true });
  },
);

test("HELP lists SEND, SOML and SAML only with the terminal plugin", TIMEOUT, async () => {
  for (const [s, listed] of [[server, true], [plain, false]] as const) {
    const client = await RawClient.connect(s.port);
    await client.reply();
    await client.send("HELP");
    const words = (await client.reply()).join(" ").split(/\s+/);
    for (const verb of ["SEND", "SOML", "SAML"]) assert.equal(words.includes(verb), listed, verb);
    client.close();
  }
});

test("without the terminal plugin: SEND is 502 5.5.1 and watch is refused", TIMEOUT, async () => {
  const client = await transcript(
    plain.port,
    `
    S: 220
    C: EHLO client.example
    S: 250
    C: SEND FROM:<carol@example.net>
    S: 502 5.5.1 SEND not implemented
    C: SOML FROM:<carol@example.net>
    S: 502 5.5.1
    C: MAIL FROM:<carol@example.net>
    S: 250 2.1.0
    C: QUIT
    S: 221
  `,
  );
  client.close();
  const alice = watch("alice@localhost", plain.dataDir);
  assert.equal(await alice.exited, 1);
  assert.match(alice.output(), /terminals are off/);
});
