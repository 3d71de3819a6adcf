/**
 * The session's write side: replies queue up and go out in one write when
 * the session next waits for input, so a pipelined group of commands gets
 * one packet of answers (RFC 2920 §3.1; RUNTIME_NOTES.md Q11).
 *
 * A client that never reads must not cost us memory: the queue reports
 * itself {@linkcode Output.full} past a bound so the session flushes before
 * reading more commands (backpressure), and a write the client does not
 * take within the write timeout ends the session.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Conn } from "../runtime/conn.ts";
import { ClientGone } from "./input.ts";
import { formatReply, type Reply } from "./reply.ts";

const encoder = new TextEncoder();

/** Queued reply bytes past which the session must flush before reading on. */
export const MAX_QUEUED_BYTES = 64 * 1024;

/** Thrown when the client does not take our replies within the write timeout. */
export class WriteTimeout extends ClientGone {
  constructor() {
    super();
    this.message = "write timeout";
    this.name = "WriteTimeout";
  }
}

/** Options for {@linkcode Output}. */
export interface OutputOptions {
  /** Milliseconds a write may take before {@linkcode WriteTimeout}; unlimited if unset. */
  writeTimeoutMs?: number | undefined;
  /** Queued bytes that make the queue {@linkcode Output.full}. */
  maxQueuedBytes?: number;
}

/** Queued replies for one connection. */
export class Output {
  #conn: Conn;
  #log: Logger;
  #connId: string;
  #queued: string[] = [];
  #queuedBytes = 0;
  #writeTimeoutMs: number | undefined;
  #maxQueuedBytes: number;

  constructor(conn: Conn, log: Logger, connId: string, options: OutputOptions = {}) {
    this.#conn = conn;
    this.#log = log;
    this.#connId = connId;
    this.#writeTimeoutMs = options.writeTimeoutMs;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  }

  /** Queues a reply. */
  push(r: Reply): void {
    const text = formatReply(r);
    this.#queued.push(text);
    this.#queuedBytes += text.length;
  }

  /** Whether the queue passed its bound; the session must flush before reading more. */
  get full(): boolean {
    return this.#queuedBytes > this.#maxQueuedBytes;
  }

  /** Switches to another connection (the TLS one after STARTTLS). */
  setConn(conn: Conn): void {
    this.#conn = conn;
  }

  /**
   * Writes every queued reply at once. Throws {@linkcode ClientGone} if the
   * write fails, and {@linkcode WriteTimeout} if it does not finish in time.
   */
  async flush(): Promise<void> {
    if (this.#queued.length === 0) return;
    const text = this.#queued.join("");
    this.#queued = [];
    this.#queuedBytes = 0;
    if (this.#log.tracing) {
      for (const line of text.split("\r\n").slice(0, -1)) this.#log.trace(this.#connId, ">", line);
    }
    const write = this.#conn.write(encoder.encode(text));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = this.#writeTimeoutMs;
    const timeout = limit === undefined ? undefined : new Promise<"timeout">((resolve) => {
      timer = setTimeout(resolve, limit, "timeout");
    });
    try {
      const result = await (timeout ? Promise.race([write, timeout]) : write);
      if (result === "timeout") {
        this.#log.event("write_timeout", { conn: this.#connId, bytes: text.length });
        throw new WriteTimeout();
      }
    } catch (error) {
      if (error instanceof WriteTimeout) throw error;
      throw new ClientGone();
    } finally {
      clearTimeout(timer);
    }
  }
}
