/**
 * Crash test for the promise (DESIGN.md): a message that got 250 survives
 * `kill -9` and is delivered at least once, and nothing is delivered that
 * was never handed over.
 *
 * Ten SMTP connections send 300 messages between them; the server is
 * killed with SIGKILL when about half of them have their 250. A second
 * server on the same data dir must then deliver every acknowledged message,
 * exactly one Maildir file per recipient (the file name starts with the
 * queue id, so a redelivery replaces instead of adding). A message whose
 * reply was still in flight at the kill may be committed without its 250:
 * delivering it is allowed (at-least-once, the client would retry), and the
 * test reports how many were.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { postino, type RunningServer, startServer } from "./helpers/server.ts";

const USERS = ["alice@localhost", "bob@localhost"];
const CONNECTIONS = 10;
const PER_CONNECTION = 30;
const TOTAL = CONNECTIONS * PER_CONNECTION;
/** The kill comes when this many messages have their 250. */
const KILL_AT = TOTAL / 2;

/** Where one message stands from the client's point of view. */
type State =
  /** Not handed over: the end-of-data dot was never written. */
  | "unsent"
  /** The whole message went out, but no reply came back (the kill). */
  | "sent"
  /** 250 with a queue id. */
  | "acked"
  /** A 4xx or 5xx to the end of data. */
  | "rejected";

interface Sent {
  marker: string;
  recipients: string[];
  state: State;
  id?: string;
}

/** A bare line-reading SMTP connection that never waits on a dead socket. */
class Wire {
  #socket: Socket;
  #buffer = "";
  #closed = false;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#wake?.();
    });
    const closed = () => {
      this.#closed = true;
      this.#wake?.();
    };
    socket.on("close", closed);
    socket.on("error", closed);
  }

  static open(port: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port }, () => resolve(new Wire(socket)));
      socket.once("error", reject);
    });
  }

  /** Writes without waiting for drain (the messages are small). */
  write(text: string): void {
    if (!this.#closed) this.#socket.write(text, "latin1");
  }

  /** The last line of the next complete reply; throws once the connection is gone. */
  async reply(timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let offset = 0;
      for (;;) {
        const end = this.#buffer.indexOf("\r\n", offset);
        if (end === -1) break;
        const line = this.#buffer.slice(offset, end);
        offset = end + 2;
        if (/^\d{3}( |$)/.test(line)) {
          this.#buffer = this.#buffer.slice(offset);
          return line;
        }
      }
      if (this.#closed) throw new Error("connection closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply in time; unread: ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.#wake?.(), left);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Reads a reply and fails unless it starts with `code`. */
async function expect(wire: Wire, code: string): Promise<string> {
  const line = await wire.reply();
  if (!line.startsWith(code)) throw new Error(`expected ${code}, got ${JSON.stringify(line)}`);
  return line;
}

/** The `new/` folder of a local mailbox. */
function newFolder(dataDir: string, address: string): string {
  const at = address.lastIndexOf("@");
  return join(dataDir, "mail", address.slice(at + 1), address.slice(0, at), "new");
}

/** The file names in each mailbox's `new/` folder. */
function mailboxes(dataDir: string): Map<string, string[]> {
  const boxes = new Map<string, string[]>();
  for (const user of USERS) {
    const dir = newFolder(dataDir, user);
    boxes.set(user, existsSync(dir) ? readdirSync(dir) : []);
  }
  return boxes;
}

/** The queue id a Maildir file name starts with (`<ID>.<hash>.<host>`). */
function idOf(name: string): string {
  return name.split(".")[0] as string;
}

/** The messages one connection sends, one transaction after another. */
function plan(connection: number, run: string): Sent[] {
  const out: Sent[] = [];
  for (let n = 0; n < PER_CONNECTION; n++) {
    // Every third message goes to both users; the rest alternate.
    const recipients = n % 3 === 0 ? [...USERS] : [USERS[(connection + n) % 2] as string];
    out.push({ marker: `crash-${run}-c${connection}-m${n}`, recipients, state: "unsent" });
  }
  return out;
}

/** Runs one connection's transactions until done or until the server is gone. */
async function sendAll(
  port: number,
  messages: Sent[],
  onAck: () => void,
  stopped: () => boolean,
): Promise<void> {
  let wire: Wire;
  try {
    wire = await Wire.open(port);
  } catch {
    return;
  }
  try {
    await expect(wire, "220");
    wire.write("EHLO crash.test\r\n");
    await expect(wire, "250");
    for (const message of messages) {
      if (stopped()) break;
      // PIPELINING: the envelope and DATA go in one write, so most of a
      // connection's time is spent waiting on the spool commit.
      wire.write(
        "MAIL FROM:<load@crash.test>\r\n" +
          message.recipients.map((r) => `RCPT TO:<${r}>\r\n`).join("") + "DATA\r\n",
      );
      await expect(wire, "250");
      for (const _ of message.recipients) await expect(wire, "250");
      await expect(wire, "354");
      wire.write(
        `From: <load@crash.test>\r\nTo: ${message.recipients.map((r) => `<${r}>`).join(", ")}\r\n` +
          `Subject: ${message.marker}\r\n\r\nbody ${message.marker}\r\n` +
          "x".repeat(200) + "\r\n.\r\n",
      );
      message.state = "sent";
      const line = await wire.reply();
      const id = /^250 .*queued as (\S+)/.exec(line)?.[1];
      if (id === undefined) {
        message.state = "rejected";
        throw new Error(`end of data: ${line}`);
      }
      message.state = "acked";
      message.id = id;
      onAck();
    }
    wire.write("QUIT\r\n");
  } catch {
    // The kill: the connection is gone. Whatever was in flight stays "sent".
  } finally {
    wire.close();
  }
}

/** Waits until `check` holds, polling; returns whether it did before the deadline. */
async function until(check: () => boolean | Promise<boolean>, deadline: number): Promise<boolean> {
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(
  "crash: every 250 survives SIGKILL mid-load and is delivered once per recipient after restart",
  { timeout: 60_000 },
  async (t) => {
    const run = Date.now().toString(36);
    let server: RunningServer | undefined = await startServer({ users: USERS });
    let restarted: RunningServer | undefined;
    try {
      const first = server;
      const dataDir = first.dataDir;
      const pid = first.child.pid as number;
      const exited = new Promise<void>((resolve) => {
        if (first.child.exitCode !== null || first.child.signalCode !== null) resolve();
        else first.child.once("exit", () => resolve());
      });

      const plans = Array.from({ length: CONNECTIONS }, (_, c) => plan(c, run));
      const all = plans.flat();
      let acked = 0;
      let ackedAtKill = -1;
      const onAck = () => {
        acked++;
        if (ackedAtKill === -1 && acked >= KILL_AT) {
          ackedAtKill = acked;
          process.kill(pid, "SIGKILL");
        }
      };
      await Promise.all(plans.map((p) => sendAll(first.port, p, onAck, () => ackedAtKill !== -1)));
      await exited;
      server = undefined;

      assert.ok(ackedAtKill >= KILL_AT, `the kill never came: only ${acked} of ${TOTAL} got 250`);
      const ackedMessages = all.filter((m) => m.state === "acked");
      const inFlight = all.filter((m) => m.state === "sent");
      const rejected = all.filter((m) => m.state === "rejected");
      assert.equal(rejected.length, 0, `rejected under load: ${rejected.map((m) => m.marker)}`);
      assert.ok(ackedMessages.length < TOTAL, "the kill came after the load was over");
      const ids = new Set(ackedMessages.map((m) => m.id));
      assert.equal(ids.size, ackedMessages.length, "the same queue id was given out twice");

      // What the killed run left: files already written, and the spool.
      const filesAtKill = [...mailboxes(dataDir).values()].reduce((n, f) => n + f.length, 0);
      const spoolAtKill = await postino(["queue", "list", "--json", "--data-dir", dataDir]);
      assert.equal(spoolAtKill.code, 0, spoolAtKill.stderr);
      const pendingAtKill = (JSON.parse(spoolAtKill.stdout) as unknown[]).length;

      // Restart on the same data dir and wait until every 250 is in a Maildir.
      restarted = await startServer({ dataDir });
      const deadline = Date.now() + 30_000;
      const missing = () => {
        const boxes = mailboxes(dataDir);
        const have = new Map([...boxes].map(([user, names]) => [user, new Set(names.map(idOf))]));
        return ackedMessages.flatMap((m) =>
          m.recipients.filter((r) => !have.get(r)?.has(m.id as string)).map((r) =>
            `${m.marker} (${m.id}) for ${r}`
          )
        );
      };
      await until(() => missing().length === 0, deadline);
      // Then until the spool has nothing left, so the in-flight count is final.
      let queueLeft = "";
      await until(async () => {
        const result = await postino(["queue", "list", "--json", "--data-dir", dataDir]);
        queueLeft = result.stdout.trim();
        return result.code === 0 && (JSON.parse(queueLeft) as unknown[]).length === 0;
      }, deadline);

      const lost = missing();
      const boxes = mailboxes(dataDir);
      const byMarker = new Map(all.map((m) => [m.marker, m]));
      const byId = new Map(ackedMessages.map((m) => [m.id as string, m]));
      let duplicates = 0;
      let files = 0;
      const strangers: string[] = [];
      const wrongContent: string[] = [];
      const unackedDelivered = new Set<string>();
      /** The mailboxes each unacknowledged-but-delivered message reached. */
      const partial = new Map<string, string[]>();
      for (const [user, names] of boxes) {
        const seenIds = new Map<string, number>();
        const seenMarkers = new Map<string, number>();
        for (const name of names) {
          files++;
          const id = idOf(name);
          seenIds.set(id, (seenIds.get(id) ?? 0) + 1);
          const text = readFileSync(join(newFolder(dataDir, user), name)).toString("latin1");
          const marker = /^Subject: (crash-\S+)\r$/m.exec(text)?.[1] ?? "";
          seenMarkers.set(marker, (seenMarkers.get(marker) ?? 0) + 1);
          const expected = byId.get(id);
          const sent = byMarker.get(marker);
          if (expected !== undefined) {
            if (expected.marker !== marker || !expected.recipients.includes(user)) {
              wrongContent.push(`${user}/${name}: has ${marker}, expected ${expected.marker}`);
            }
          } else if (
            sent !== undefined && sent.state === "sent" && sent.recipients.includes(user)
          ) {
            unackedDelivered.add(marker);
            partial.set(marker, [...(partial.get(marker) ?? []), user]);
          } else {
            strangers.push(`${user}/${name} (${marker || "no marker"}, state ${sent?.state})`);
          }
        }
        for (const count of seenIds.values()) duplicates += count - 1;
        for (const count of seenMarkers.values()) duplicates += count - 1;
      }

      const summary = `acked at kill ${ackedAtKill}, acked in all ${ackedMessages.length}, ` +
        `in flight (no reply) ${inFlight.length}, never sent ${
          all.filter((m) => m.state === "unsent").length
        }; at the kill: ${filesAtKill} Maildir files, ${pendingAtKill} messages in the spool; ` +
        `after restart: ${files} Maildir files, ` +
        `${ackedMessages.length - new Set(lost.map((l) => l.split(" ")[0])).size} acked ` +
        `messages fully delivered, duplicates ${duplicates}, ` +
        `unacknowledged but delivered ${unackedDelivered.size} of ${inFlight.length}`;
      t.diagnostic(summary);

      assert.deepEqual(lost, [], `acknowledged mail lost after the crash (${summary})`);
      assert.equal(duplicates, 0, `duplicate Maildir files: ${duplicates} (${summary})`);
      assert.deepEqual(strangers, [], `files for mail never handed over (${summary})`);
      assert.deepEqual(wrongContent, [], `files with the wrong content (${summary})`);
      const incomplete = [...partial].filter(([marker, users]) =>
        users.length !== byMarker.get(marker)?.recipients.length
      );
      assert.deepEqual(incomplete, [], `unacknowledged mail delivered to only some (${summary})`);
      assert.equal(queueLeft, "[]", `the spool did not empty after restart (${summary})`);
    } finally {
      if (server !== undefined) await server.stop("SIGKILL");
      if (restarted !== undefined) await restarted.stop();
    }
  },
);
