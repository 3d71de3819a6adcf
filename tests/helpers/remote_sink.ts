/**
 * Postfix's `smtp-sink` as a real remote MTA for wire tests (PEERS.md), plus
 * a counting TCP proxy to see how many connections reach it, and small
 * helpers shared by the relay and bounce tests: free ports on any 127.x
 * address, sending a message to Postino, polling with a deadline.
 *
 * smtp-sink dumps each transaction to its own file (`-d DIR/%M.`): its own
 * `X-…` fields and `Received:` field, then the message with LF line endings
 * and the dot-stuffing undone, then one empty line.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { RawClient } from "./smtp_client.ts";

const SINK_PATH = `${process.env.PATH ?? ""}:/usr/sbin:/usr/local/sbin:/sbin`;

/** Whether `smtp-sink` (Debian's `postfix`) is installed. */
export const HAVE_SINK: boolean = (() => {
  try {
    execFileSync("sh", ["-c", "command -v smtp-sink"], {
      env: { PATH: SINK_PATH },
      stdio: "ignore",
    });
    return true;
  } catch {
    return false;
  }
})();

/** Whether `dnsmasq` (Debian's `dnsmasq-base`) is installed. */
export const HAVE_DNSMASQ: boolean = (() => {
  try {
    execFileSync("sh", ["-c", "command -v dnsmasq"], {
      env: { PATH: SINK_PATH },
      stdio: "ignore",
    });
    return true;
  } catch {
    return false;
  }
})();

/** Sleeps `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 50 ms until it returns a value other than undefined, or throws at the deadline. */
export async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(50);
  }
}

/** A port that is free on `host` (any 127.x address) right now. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on `host:port`. */
export function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ host, port }, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on("error", () => resolve(false));
  });
}

/** A running smtp-sink. */
export interface Sink {
  host: string;
  port: number;
  dir: string;
  /** The complete dump files so far (each ends with its empty line). */
  dumps(): string[];
  /** Waits until there are at least `count` complete dumps, and returns all of them. */
  waitDumps(count: number, timeoutMs?: number): Promise<string[]>;
  /** Stops smtp-sink by its PID and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `smtp-sink -4 -u nobody -d DIR/%M. [options] HOST:PORT 100` and
 * waits until it accepts connections. `port` 0 picks a free one.
 */
export async function startSink(
  options: { host?: string; port?: number; args?: string[] } = {},
): Promise<Sink> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port || await freePort(host);
  const dir = mkdtempSync(join(tmpdir(), "remote-sink-"));
  chmodSync(dir, 0o777); // smtp-sink drops to `nobody` before writing
  const asRoot = process.getuid?.() === 0 ? ["-u", "nobody"] : [];
  const child: ChildProcess = spawn(
    "smtp-sink",
    ["-4", ...asRoot, "-d", `${dir}/%M.`, ...(options.args ?? []), `${host}:${port}`, "100"],
    { env: { PATH: SINK_PATH }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d) => stderr += d);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, "SIGTERM");
      await exited;
    }
  };
  const deadline = Date.now() + 5_000;
  while (!await listening(host, port)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`smtp-sink on ${host}:${port} did not start: ${stderr}`);
    }
    await sleep(20);
  }
  const complete = () =>
    readdirSync(dir).map((name) => readFileSync(join(dir, name), "utf8")).filter((t) =>
      t.endsWith("\n\n")
    );
  return {
    host,
    port,
    dir,
    dumps: complete,
    waitDumps: (count, timeoutMs = 20_000) =>
      until(`${count} smtp-sink dump(s) in ${dir}`, () => {
        const texts = complete();
        return texts.length >= count ? texts : undefined;
      }, timeoutMs),
    stop,
  };
}

/** One smtp-sink dump, split up. */
export interface Dump {
  /** smtp-sink's `X-…` fields, e.g. `X-Mail-Args: <a@b> BODY=8BITMIME`. */
  fields: string[];
  /** `X-Mail-Args`, `X-Rcpt-Args` values. */
  mailArgs: string;
  rcptArgs: string[];
  /** The message as it arrived (LF line endings), without smtp-sink's lines. */
  message: string;
}

/** Splits a dump: smtp-sink's `X-…` lines and its own `Received:` field, then the message. */
export function parseDump(dump: string): Dump {
  assert.ok(dump.endsWith("\n\n"), `incomplete dump: ${JSON.stringify(dump)}`);
  const lines = dump.slice(0, -1).split("\n"); // the final empty line is smtp-sink's
  const fields: string[] = [];
  let i = 0;
  while (i < lines.length && /^X-[\w-]+: /.test(lines[i] as string)) {
    fields.push(lines[i++] as string);
  }
  // smtp-sink's own Received: field, with its continuation lines.
  assert.match(lines[i] ?? "", /^Received: /, `no smtp-sink Received in ${JSON.stringify(dump)}`);
  i++;
  while (i < lines.length && /^[ \t]/.test(lines[i] as string)) i++;
  const value = (name: string) =>
    fields.filter((f) => f.startsWith(`${name}: `)).map((f) => f.slice(name.length + 2));
  return {
    fields,
    mailArgs: value("X-Mail-Args")[0] ?? "",
    rcptArgs: value("X-Rcpt-Args"),
    message: lines.slice(i).join("\n"),
  };
}

/**
 * Removes the `Received:` fields (with their continuation lines) at the top
 * of `message`, and returns them and the rest. Works on CRLF or LF text.
 */
export function splitReceived(message: string): { received: string[]; rest: string } {
  const eol = message.includes("\r\n") ? "\r\n" : "\n";
  const lines = message.split(eol);
  const received: string[] = [];
  let i = 0;
  while (i < lines.length && /^Received:/i.test(lines[i] as string)) {
    let field = lines[i++] as string;
    while (i < lines.length && /^[ \t]/.test(lines[i] as string)) field += eol + lines[i++];
    received.push(field);
  }
  return { received, rest: lines.slice(i).join(eol) };
}

/**
 * Asserts that `arrived` is `original` with only `Received:` fields added at
 * the top (at least one). Both are compared as LF text when `lf` is set
 * (smtp-sink writes LF), else byte for byte.
 */
export function assertSameApartFromReceived(
  arrived: string,
  original: string,
  options: { lf?: boolean; hostname?: string } = {},
): void {
  const { received, rest } = splitReceived(arrived);
  assert.ok(received.length >= 1, `no Received: field added; arrived:\n${arrived}`);
  if (options.hostname) {
    assert.ok(
      received.some((r) => r.includes(options.hostname as string)),
      `no Received: field names ${options.hostname}: ${JSON.stringify(received)}`,
    );
  }
  assert.equal(rest, options.lf ? original.replaceAll("\r\n", "\n") : original);
}

/** A TCP proxy in front of a remote that counts the connections made through it. */
export interface CountingProxy {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 and pipes every connection to `target`. */
export async function startCountingProxy(
  target: { host: string; port: number },
): Promise<CountingProxy> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    connections++;
    const outbound = createConnection(target);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return {
    port: address.port,
    get connections() {
      return connections;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** What {@linkcode sendMail} hands to Postino. */
export interface Submission {
  /** The envelope sender, without brackets ("" for `<>`). */
  from: string;
  /** MAIL parameters, e.g. `RET=FULL`. */
  mailParams?: string;
  /** Recipients, each optionally with RCPT parameters after a space: `bad@x.test NOTIFY=NEVER`. */
  to: string[];
  /** The message, CRLF line endings, not dot-stuffed. */
  data: string;
}

/**
 * Sends one message to Postino on 127.0.0.1:`port` and returns the RCPT
 * replies and the queue id. Throws unless MAIL and DATA are accepted. Commands
 * go as latin1 text, the message as UTF-8.
 */
export async function sendMail(
  port: number,
  mail: Submission,
): Promise<{ rcpt: string[]; id: string | undefined; final: string }> {
  const client = await RawClient.connect(port);
  try {
    const expect = async (prefix: string) => {
      const reply = await client.reply();
      const last = reply[reply.length - 1] as string;
      assert.ok(last.startsWith(prefix), `expected ${prefix}, got ${JSON.stringify(reply)}`);
      return last;
    };
    await expect("220");
    await client.send("EHLO client.example");
    await expect("250");
    await client.send(`MAIL FROM:<${mail.from}>${mail.mailParams ? ` ${mail.mailParams}` : ""}`);
    await expect("250");
    const rcpt: string[] = [];
    for (const to of mail.to) {
      const [address, ...params] = to.split(" ");
      await client.send(`RCPT TO:<${address}>${params.length ? ` ${params.join(" ")}` : ""}`);
      const reply = await client.reply();
      rcpt.push(reply[reply.length - 1] as string);
    }
    if (!rcpt.some((r) => r.startsWith("250"))) {
      await client.send("QUIT");
      return { rcpt, id: undefined, final: "" };
    }
    await client.send("DATA");
    await expect("354");
    const stuffed = mail.data.replace(/^\./gm, "..");
    await client.write(new TextEncoder().encode(`${stuffed}.\r\n`)); // UTF-8 on the wire
    const final = await expect("250");
    await client.send("QUIT");
    return { rcpt, id: /queued as (\S+)/.exec(final)?.[1], final };
  } finally {
    client.close();
  }
}
