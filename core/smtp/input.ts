/**
 * The session's read side: a byte buffer over a {@linkcode Conn} that hands
 * out command lines and raw bytes, and flushes pending replies before it
 * waits for the client (RFC 2920 §3.1: answer what we have before blocking).
 *
 * Three clocks bound a slow client (RFC 5321 §4.5.3.2): the idle timeout
 * limits each wait for bytes, a command deadline limits one whole command
 * line from its first byte (a client trickling one byte at a time never
 * resets it), and a phase deadline limits a whole DATA or BDAT transfer.
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

/**
 * Thrown when a command line or a DATA/BDAT phase takes longer than its
 * total deadline. It is an {@linkcode IdleTimeout}, so callers that answer
 * timeouts answer both alike (421 4.4.2).
 */
export class DeadlineExceeded extends IdleTimeout {
  constructor(what: string) {
    super();
    this.message = `${what} deadline exceeded`;
    this.name = "DeadlineExceeded";
  }
}

/** What the client did while {@linkcode Input.listen} waited. */
export type Heard = "quiet" | "talked" | "gone";

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
  /** Milliseconds from a command line's first byte to its end; unlimited if unset. */
  commandTimeoutMs?: number | undefined;
  /** The clock for deadlines, in milliseconds (tests inject one). */
  now?: () => number;
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
  /** A read started but not yet consumed (by {@linkcode listen} or a timed-out wait). */
  #pending: Promise<Uint8Array | null> | undefined;
  /** When the current DATA/BDAT phase must be over. */
  #phaseEnd: number | undefined;
  #now: () => number;

  constructor(options: InputOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
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
    this.#pending = undefined;
  }

  /**
   * Starts a DATA/BDAT phase that must end within `ms` (no limit if
   * undefined); a phase already running keeps its deadline (BDAT chunks
   * share one).
   */
  startPhase(ms: number | undefined): void {
    if (ms !== undefined) this.#phaseEnd ??= this.#now() + ms;
  }

  /** Ends the DATA/BDAT phase deadline. */
  endPhase(): void {
    this.#phaseEnd = undefined;
  }

  /**
   * Waits up to `ms` for the client to send anything, without flushing
   * replies: a client that talks before our greeting is an early talker
   * (RFC 5321 §4.3.1). Bytes that arrive stay buffered.
   */
  async listen(ms: number): Promise<Heard> {
    if (this.buffered > 0) return "talked";
    const read = this.#pending ?? this.#options.read();
    this.#pending = read;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const quiet = new Promise<"quiet">((resolve) => timer = setTimeout(resolve, ms, "quiet"));
    try {
      const chunk = await Promise.race([read, quiet]);
      if (chunk === "quiet") return "quiet";
      this.#pending = undefined;
      if (chunk === null) return "gone";
      this.#append(chunk);
      return "talked";
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Waits for more bytes and appends them. Returns `false` at end of stream.
   * Throws {@linkcode IdleTimeout} when the client stays silent too long, and
   * {@linkcode DeadlineExceeded} when `deadline` (on the input's clock) or
   * the phase deadline passes first.
   */
  async fill(deadline?: number): Promise<boolean> {
    await this.#options.beforeWait();
    const now = this.#now();
    const end = Math.min(deadline ?? Infinity, this.#phaseEnd ?? Infinity);
    const idle = this.#options.idleTimeoutMs;
    const error = end - now < idle
      ? new DeadlineExceeded(end === deadline ? "command" : "data phase")
      : new IdleTimeout();
    // Checked before reading too: a client that keeps bytes coming fast
    // would otherwise win every race against the timer.
    if (end <= now) throw error;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(error), Math.max(0, Math.min(idle, end - now)));
    });
    const read = this.#pending ?? this.#options.read();
    // Kept until it settles, so a read is never started twice or lost.
    this.#pending = read;
    let chunk: Uint8Array | null;
    try {
      chunk = await Promise.race([read, timeout]);
      this.#pending = undefined;
    } finally {
      clearTimeout(timer);
    }
    if (chunk === null) return false;
    this.#append(chunk);
    return true;
  }

  #append(chunk: Uint8Array): void {
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
  }

  /**
   * Reads one line ending in LF, without its CRLF or LF. A line longer than
   * `max` octets (terminator included) is skipped to its end and reported as
   * too long, so memory stays bounded. The whole line must arrive within the
   * command timeout from its first byte ({@linkcode DeadlineExceeded}).
   *
   * @returns the line, or `null` at end of stream
   */
  async readLine(max: number): Promise<LineResult | null> {
    let skipping = false;
    const limit = this.#options.commandTimeoutMs;
    let deadline = limit !== undefined && this.buffered > 0 ? this.#now() + limit : undefined;
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
      if (!await this.fill(deadline)) return skipping ? { line: null, tooLong: true } : null;
      if (limit !== undefined) deadline ??= this.#now() + limit;
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
