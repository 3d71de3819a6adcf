/**
 * A raw-socket SMTP client for wire tests: send exact bytes, read whole
 * replies, and run readable `C:`/`S:` transcripts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { ReplyReader } from "./reply_reader.ts";

/** A raw client connection. */
export class RawClient {
  #socket: Socket;
  #in = new ReplyReader();

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => this.#in.push(chunk));
    socket.on("close", () => this.#in.close());
    socket.on("error", () => this.#in.close());
  }

  /** Connects to 127.0.0.1:`port`. */
  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port }, () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  /** Whether the server closed the connection. */
  get closed(): boolean {
    return this.#in.closed;
  }

  /**
   * Sends text or bytes exactly as given (no CRLF added). Resolves once
   * written, or at once when the connection is closed: a closed socket
   * never drains, and the next {@linkcode reply} reports the close.
   */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      if (this.#in.closed || this.#socket.destroyed) return resolve();
      const ok = typeof data === "string"
        ? this.#socket.write(data, "latin1")
        : this.#socket.write(data);
      if (ok || this.#socket.destroyed) return resolve();
      const done = () => {
        this.#socket.off("drain", done);
        this.#socket.off("close", done);
        resolve();
      };
      this.#socket.once("drain", done);
      this.#socket.once("close", done);
    });
  }

  /** Sends one command line with CRLF. */
  send(line: string): Promise<void> {
    return this.write(line + "\r\n");
  }

  /** Waits for one complete (possibly multi-line) reply; returns its lines. */
  reply(timeoutMs?: number): Promise<string[]> {
    return this.#in.reply(timeoutMs);
  }

  /** Waits until the server closes the connection. */
  waitClosed(timeoutMs?: number): Promise<void> {
    return this.#in.waitClosed(timeoutMs);
  }

  /** Everything received and not yet read as a reply. */
  get unread(): string {
    return this.#in.unread;
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * Runs a transcript against a server. `C: text` lines are sent with CRLF
 * (`C:` lines in a row are sent in one write, which is pipelining);
 * `S: text` lines must match the next reply's last line by prefix, or as a
 * regular expression when written `S: /regex/`. A multi-line reply is
 * matched by its final line.
 *
 * @example
 * ```ts
 * await transcript(port, `
 *   S: 220
 *   C: EHLO client.example
 *   S: 250 HELP
 *   C: MAIL FROM:<a@example.org>
 *   S: 250 2.1.0
 * `);
 * ```
 */
export async function transcript(port: number, script: string): Promise<RawClient> {
  const client = await RawClient.connect(port);
  let pending: string[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    await client.write(pending.map((l) => l + "\r\n").join(""));
    pending = [];
  };
  for (const raw of script.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("C:")) {
      pending.push(line.slice(2).replace(/^ /, ""));
    } else if (line.startsWith("S:")) {
      await flush();
      const want = line.slice(2).trim();
      const reply = await client.reply();
      const last = reply[reply.length - 1] as string;
      if (want.startsWith("/") && want.endsWith("/")) {
        assert.match(last, new RegExp(want.slice(1, -1)), `reply ${JSON.stringify(reply)}`);
      } else {
        assert.ok(last.startsWith(want), `expected "${want}", got ${JSON.stringify(reply)}`);
      }
    } else {
      throw new Error(`transcript line must start with C: or S:, got "${line}"`);
    }
  }
  await flush();
  return client;
}
