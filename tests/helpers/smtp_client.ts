/**
 * A raw-socket SMTP client for wire tests: send exact bytes, read whole
 * replies, and run readable `C:`/`S:` transcripts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";

/** A raw client connection. */
export class RawClient {
  #socket: Socket;
  #buffer = "";
  #closed = false;
  #waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#wake();
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on("error", () => {
      this.#closed = true;
      this.#wake();
    });
  }

  /** Connects to 127.0.0.1:`port`. */
  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port }, () => resolve(new RawClient(socket)));
      socket.once("error", reject);
    });
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** Whether the server closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends text or bytes exactly as given (no CRLF added). Resolves once
   * written, or at once when the connection is closed: a closed socket
   * never drains, and the next {@linkcode reply} reports the close.
   */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed || this.#socket.destroyed) return resolve();
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
  async reply(timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines: string[] = [];
      let offset = 0;
      for (;;) {
        const end = this.#buffer.indexOf("\r\n", offset);
        if (end === -1) break;
        const line = this.#buffer.slice(offset, end);
        lines.push(line);
        offset = end + 2;
        if (/^\d{3}( |$)/.test(line)) {
          this.#buffer = this.#buffer.slice(offset);
          return lines;
        }
      }
      if (this.#closed) {
        throw new Error(`connection closed; unread: ${JSON.stringify(this.#buffer)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply in time; unread: ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.#waiters.add(done);
      });
    }
  }

  /** Waits until the server closes the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      if (Date.now() > deadline) throw new Error("server did not close the connection");
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Everything received and not yet read as a reply. */
  get unread(): string {
    return this.#buffer;
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
