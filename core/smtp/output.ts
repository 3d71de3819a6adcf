/**
 * The session's write side: replies queue up and go out in one write when
 * the session next waits for input, so a pipelined group of commands gets
 * one packet of answers (RFC 2920 §3.1; RUNTIME_NOTES.md Q11).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Conn } from "../runtime/conn.ts";
import { ClientGone } from "./input.ts";
import { formatReply, type Reply } from "./reply.ts";

const encoder = new TextEncoder();

/** Queued replies for one connection. */
export class Output {
  #conn: Conn;
  #log: Logger;
  #connId: string;
  #queued: Reply[] = [];

  constructor(conn: Conn, log: Logger, connId: string) {
    this.#conn = conn;
    this.#log = log;
    this.#connId = connId;
  }

  /** Queues a reply. */
  push(r: Reply): void {
    this.#queued.push(r);
  }

  /** Switches to another connection (the TLS one after STARTTLS). */
  setConn(conn: Conn): void {
    this.#conn = conn;
  }

  /** Writes every queued reply at once. Throws {@linkcode ClientGone} if the write fails. */
  async flush(): Promise<void> {
    if (this.#queued.length === 0) return;
    const text = this.#queued.map(formatReply).join("");
    this.#queued = [];
    if (this.#log.tracing) {
      for (const line of text.split("\r\n").slice(0, -1)) this.#log.trace(this.#connId, ">", line);
    }
    try {
      await this.#conn.write(encoder.encode(text));
    } catch {
      throw new ClientGone();
    }
  }
}
