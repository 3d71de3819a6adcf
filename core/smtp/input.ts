/**
 * The session's read side: a byte buffer over a {@linkcode Conn} that hands
 * out command lines and raw bytes, and flushes pending replies before it
 * waits for the client (RFC 2920 §3.1: answer what we have before blocking).
 *
 * @module
 */

/** Thrown when the client sends nothing for the idle timeout. */
export class IdleTimeout extends Error {
  constructor() {
    super("idle timeout");
    this.name = "IdleTimeout";
  }
}

/** Thrown when the stream ends in the middle of a command or message. */
export class ClientGone extends Error {
  constructor() {
    super("client closed the connection");
    this.name = "ClientGone";
  }
}

/** A command line, or the marker for one that was too long. */
export type LineResult = { line: Uint8Array; tooLong: false } | { line: null; tooLong: true };

/** Options for {@linkcode Input}. */
export interface InputOptions {
  /** Pulls the next chunk from the connection; `null` at end of stream. */
  read: () => Promise<Uint8Array | null>;
  /** Called before every wait for more bytes (flushes pipelined replies). */
  beforeWait: () => Promise<void>;
  /** Milliseconds without data before {@linkcode IdleTimeout}. */
  idleTimeoutMs: number;
  /** Bytes already received (after a PROXY header, say). */
  initial?: Uint8Array;
}

const LF = 10;
const CR = 13;

/** Buffered input with line and byte-count reads. */
export class Input {
  #options: InputOptions;
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;

  constructor(options: InputOptions) {
    this.#options = options;
    if (options.initial) this.#buf = options.initial;
  }

  /** Bytes received but not yet consumed. */
  get buffered(): number {
    return this.#buf.byteLength - this.#pos;
  }

  /** The unconsumed bytes and the offset where they start (read only). */
  view(): { buf: Uint8Array; pos: number } {
    return { buf: this.#buf, pos: this.#pos };
  }

  /** Marks bytes up to `pos` as consumed. */
  consumeTo(pos: number): void {
    this.#pos = pos;
  }

  /** Drops everything buffered (RFC 3207 §4.2 / CVE-2011-0411 after STARTTLS). */
  discard(): void {
    this.#buf = new Uint8Array(0);
    this.#pos = 0;
  }

  /** Replaces the byte source, e.g. with the TLS connection after STARTTLS. */
  setReader(read: () => Promise<Uint8Array | null>): void {
    this.#options = { ...this.#options, read };
  }

  /**
   * Waits for more bytes and appends them. Returns `false` at end of stream.
   * Throws {@linkcode IdleTimeout} when the client stays silent too long.
   */
  async fill(): Promise<boolean> {
    await this.#options.beforeWait();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new IdleTimeout()), this.#options.idleTimeoutMs);
    });
    let chunk: Uint8Array | null;
    try {
      chunk = await Promise.race([this.#options.read(), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (chunk === null) return false;
    const rest = this.#buf.byteLength - this.#pos;
    if (rest === 0) {
      this.#buf = chunk;
    } else {
      const joined = new Uint8Array(rest + chunk.byteLength);
      joined.set(this.#buf.subarray(this.#pos));
      joined.set(chunk, rest);
      this.#buf = joined;
    }
    this.#pos = 0;
    return true;
  }

  /**
   * Reads one line ending in LF, without its CRLF or LF. A line longer than
   * `max` octets (terminator included) is skipped to its end and reported as
   * too long, so memory stays bounded.
   *
   * @returns the line, or `null` at end of stream
   */
  async readLine(max: number): Promise<LineResult | null> {
    let skipping = false;
    for (;;) {
      const lf = this.#buf.indexOf(LF, this.#pos);
      if (lf !== -1) {
        const start = this.#pos;
        this.#pos = lf + 1;
        if (skipping || lf + 1 - start > max) return { line: null, tooLong: true };
        const end = lf > start && this.#buf[lf - 1] === CR ? lf - 1 : lf;
        return { line: this.#buf.subarray(start, end), tooLong: false };
      }
      if (this.buffered > max) {
        skipping = true;
        this.discard();
      }
      if (!await this.fill()) return skipping ? { line: null, tooLong: true } : null;
    }
  }

  /**
   * Reads exactly `count` bytes (BDAT, RFC 3030), keeping at most `keep` of
   * them; the rest are read and dropped so the stream stays in step.
   */
  async readBytes(count: number, keep: number): Promise<Uint8Array[]> {
    const parts: Uint8Array[] = [];
    let remaining = count;
    let kept = 0;
    while (remaining > 0) {
      if (this.buffered === 0 && !await this.fill()) throw new ClientGone();
      const take = Math.min(remaining, this.buffered);
      const slice = this.#buf.subarray(this.#pos, this.#pos + take);
      if (kept < keep) {
        const room = Math.min(take, keep - kept);
        parts.push(slice.subarray(0, room));
        kept += room;
      }
      this.#pos += take;
      remaining -= take;
    }
    return parts;
  }
}
