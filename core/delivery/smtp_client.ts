/**
 * The SMTP client: one session with a remote MTA over a {@linkcode Conn}
 * from `runtime.connect`. It greets with EHLO (HELO as a fallback), upgrades
 * with STARTTLS as the policy asks, and sends messages one transaction at a
 * time with per-recipient results, pipelining and CHUNKING when offered.
 *
 * @example
 * ```ts
 * const client = await SmtpClient.open(runtime, {
 *   host: "192.0.2.25", port: 25, heloName: "mx.example.org", tls: "opportunistic",
 * });
 * const results = await client.send(message); // one RecipientResult per recipient
 * await client.quit();
 * ```
 *
 * @module
 */
import type { Conn } from "../runtime/conn.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { type ClientReply, ReplyReader, SmtpClientError, withTimeout } from "./smtp_reply.ts";
import { type OutboundMessage, type RecipientResult, runTransaction } from "./smtp_transaction.ts";

export { SmtpClientError } from "./smtp_reply.ts";
export type { OutboundMessage, RecipientResult } from "./smtp_transaction.ts";

/** Timeouts in milliseconds, per step (RFC 5321 §4.5.3.2). */
export interface ClientTimeouts {
  /** Establishing the TCP connection. */
  connect: number;
  /** The 220 greeting (§4.5.3.2.1). */
  greeting: number;
  /** Replies to EHLO/HELO, STARTTLS (and the handshake), RSET and QUIT. */
  ehlo: number;
  /** The reply to MAIL (§4.5.3.2.2). */
  mail: number;
  /** Each reply to RCPT (§4.5.3.2.3). */
  rcpt: number;
  /** The 354 reply to DATA (§4.5.3.2.4). */
  dataInit: number;
  /** Each write of message data (§4.5.3.2.5). */
  dataBlock: number;
  /** The reply after the final `.` or `BDAT … LAST` (§4.5.3.2.6). */
  dataEnd: number;
}

/** The RFC 5321 §4.5.3.2 defaults; connect and EHLO follow the 5-minute greeting one. */
export const DEFAULT_TIMEOUTS: Readonly<ClientTimeouts> = {
  connect: 5 * 60_000,
  greeting: 5 * 60_000,
  ehlo: 5 * 60_000,
  mail: 5 * 60_000,
  rcpt: 5 * 60_000,
  dataInit: 2 * 60_000,
  dataBlock: 3 * 60_000,
  dataEnd: 10 * 60_000,
};

/**
 * When to use STARTTLS (RFC 3207):
 * - `none`: never;
 * - `opportunistic`: when offered, without a certificate check, falling back
 *   to plaintext on a new connection if the handshake fails (RFC 7435);
 * - `required`: must encrypt, no certificate check;
 * - `verify`: must encrypt, and the certificate must verify for `servername`.
 */
export type TlsPolicy = "none" | "opportunistic" | "required" | "verify";

/** Options for {@linkcode SmtpClient.open}. */
export interface SmtpClientOptions {
  /** IP address or name to connect to. */
  host: string;
  port: number;
  /** Our name for EHLO/HELO. */
  heloName: string;
  tls: TlsPolicy;
  timeouts?: Partial<ClientTimeouts>;
  /** Name for SNI and the certificate check; defaults to `host`. */
  servername?: string;
  /** PEM trust anchors for `verify` instead of the system store. */
  ca?: string;
}

/** Internal: the handshake failed where `opportunistic` may fall back. */
class HandshakeFailed extends Error {}

/** One SMTP session with a remote MTA. */
export class SmtpClient {
  #conn: Conn;
  #reader: ReplyReader;
  #timeouts: ClientTimeouts;
  #extensions = new Map<string, string>();
  #tls: { version: string; cipher: string } | undefined;
  #greeting = "";
  #tlsError: string | undefined;
  #open = true;

  private constructor(conn: Conn, timeouts: ClientTimeouts) {
    this.#conn = conn;
    this.#reader = new ReplyReader(conn);
    this.#timeouts = timeouts;
  }

  /** EHLO keywords (upper case) and their parameters; empty after HELO. */
  get extensions(): Map<string, string> {
    return this.#extensions;
  }

  /** The negotiated TLS version and cipher; `undefined` in plaintext. */
  get tls(): { version: string; cipher: string } | undefined {
    return this.#tls;
  }

  /** The remote's 220 greeting text, sanitised. */
  get remoteGreeting(): string {
    return this.#greeting;
  }

  /** Why STARTTLS was offered but not used (opportunistic fallback), for the log. */
  get tlsError(): string | undefined {
    return this.#tlsError;
  }

  /** Whether the session can still carry a transaction. */
  get isOpen(): boolean {
    return this.#open;
  }

  /**
   * Connects, reads the greeting, says EHLO (HELO if EHLO gets a 5xx) and
   * upgrades with STARTTLS as `options.tls` asks.
   *
   * @throws {SmtpClientError} when no session could be set up: connection
   * refused or timed out (4.4.1), greeting or EHLO refused (the remote's
   * code), TLS required but not offered (4.7.4) or failed (4.7.5).
   */
  static async open(runtime: Runtime, options: SmtpClientOptions): Promise<SmtpClient> {
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    try {
      return await SmtpClient.#session(runtime, options, timeouts, options.tls);
    } catch (error) {
      if (!(error instanceof HandshakeFailed)) throw error;
      // RFC 7435: opportunistic TLS may fall back to cleartext; the failed
      // connection is unusable, so start over without STARTTLS.
      const client = await SmtpClient.#session(runtime, options, timeouts, "none");
      client.#tlsError = error.message;
      return client;
    }
  }

  /**
   * Runs the client over a connection that is already open, for example
   * after ATRN (RFC 2645 §4.2), where the peer that connected to us turns
   * SMTP server: it reads the peer's 220 greeting and says EHLO (HELO if
   * EHLO gets a 5xx). No STARTTLS: the connection is as secure as it is.
   *
   * @example
   * ```ts
   * const client = await SmtpClient.over(conn, { heloName: "mx.example.org" });
   * ```
   *
   * @throws {SmtpClientError} when the greeting or EHLO is refused or times out;
   * the connection is closed then.
   */
  static async over(
    conn: Conn,
    options: { heloName: string; timeouts?: Partial<ClientTimeouts> },
  ): Promise<SmtpClient> {
    const client = new SmtpClient(conn, { ...DEFAULT_TIMEOUTS, ...options.timeouts });
    client.#tls = conn.tlsInfo;
    try {
      await client.#start({ host: "", port: 0, heloName: options.heloName, tls: "none" }, "none");
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  static async #session(
    runtime: Runtime,
    options: SmtpClientOptions,
    timeouts: ClientTimeouts,
    policy: TlsPolicy,
  ): Promise<SmtpClient> {
    const where = `${options.host}:${options.port}`;
    const dialling = runtime.connect({ hostname: options.host, port: options.port });
    const conn = await withTimeout(
      dialling,
      timeouts.connect,
      () => new SmtpClientError(421, "4.4.1", `connection to ${where} timed out`),
    ).catch((error) => {
      dialling.then((late) => late.close(), () => {}); // a connect that wins after the timeout
      if (error instanceof SmtpClientError) throw error;
      throw new SmtpClientError(421, "4.4.1", `cannot connect to ${where}: ${describe(error)}`);
    });
    const client = new SmtpClient(conn, timeouts);
    try {
      await client.#start(options, policy);
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  async #start(options: SmtpClientOptions, policy: TlsPolicy): Promise<void> {
    const greeting = await this.#reader.read(this.#timeouts.greeting, "the greeting");
    if (greeting.code !== 220) {
      // RFC 5321 §3.1: after a 554 greeting the client should still QUIT.
      await this.quit();
      throw SmtpClientError.fromReply(greeting);
    }
    this.#greeting = greeting.text;
    await this.#hello(options.heloName, true);
    if (policy === "none") return;
    if (!this.#extensions.has("STARTTLS")) {
      if (policy === "opportunistic") return;
      throw new SmtpClientError(
        421,
        "4.7.4",
        "TLS is required, but the remote does not offer STARTTLS",
      );
    }
    const reply = await this.#command("STARTTLS", this.#timeouts.ehlo);
    if (reply.code !== 220) {
      if (policy === "opportunistic") return;
      throw new SmtpClientError(
        421,
        reply.enhanced,
        `TLS is required, STARTTLS failed: ${reply.text}`,
        true,
      );
    }
    // Replies the remote sent beyond the 220 are discarded with the plaintext
    // reader: they must not be taken as answers inside TLS (CVE-2011-0411).
    try {
      this.#conn = await withTimeout(
        this.#conn.startTlsClient({
          servername: options.servername ?? options.host,
          verify: policy === "verify",
          ...(options.ca === undefined ? {} : { ca: options.ca }),
        }),
        this.#timeouts.ehlo,
        () => new Error("TLS handshake timed out"),
      );
    } catch (error) {
      const why = `TLS handshake failed: ${describe(error)}`;
      if (policy === "opportunistic") throw new HandshakeFailed(why);
      throw new SmtpClientError(421, "4.7.5", why);
    }
    this.#reader = new ReplyReader(this.#conn);
    const info = this.#conn.tlsInfo;
    this.#tls = { version: info?.version ?? "unknown", cipher: info?.cipher ?? "unknown" };
    // RFC 3207 §4.2: forget everything learnt before TLS and greet again.
    await this.#hello(options.heloName, false);
  }

  /** EHLO, or HELO when EHLO gets a 5xx and `fallback` allows it. */
  async #hello(name: string, fallback: boolean): Promise<void> {
    this.#extensions = new Map();
    const ehlo = await this.#command(`EHLO ${name}`, this.#timeouts.ehlo);
    if (ehlo.code === 250) {
      for (const line of ehlo.lines.slice(1)) {
        const [keyword = "", ...params] = line.trim().split(/\s+/);
        if (/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(keyword)) {
          this.#extensions.set(keyword.toUpperCase(), params.join(" "));
        }
      }
      return;
    }
    if (fallback && ehlo.code >= 500) {
      const helo = await this.#command(`HELO ${name}`, this.#timeouts.ehlo);
      if (helo.code === 250) return;
      throw SmtpClientError.fromReply(helo);
    }
    throw SmtpClientError.fromReply(ehlo);
  }

  /** Writes one command line and reads its reply. */
  async #command(line: string, timeout: number): Promise<ClientReply> {
    await this.#write(new TextEncoder().encode(`${line}\r\n`), timeout);
    return await this.#reader.read(timeout, line.split(" ")[0] ?? line);
  }

  async #write(data: Uint8Array, timeout: number): Promise<void> {
    await withTimeout(
      this.#conn.write(data).catch((error) => {
        throw new SmtpClientError(421, "4.4.2", `connection lost: ${describe(error)}`);
      }),
      timeout,
      () => new SmtpClientError(421, "4.4.2", "timeout writing to the remote"),
    );
  }

  /**
   * Sends one message in one transaction and returns one result per
   * recipient, in order. The session can carry further messages while
   * {@linkcode isOpen} stays true.
   *
   * Checks against the remote's extensions (SIZE, 8BITMIME, SMTPUTF8) and
   * invalid addresses settle recipients locally, with `remote: false`.
   *
   * @throws {SmtpClientError} (temporary) when the session is lost before
   * the remote answered MAIL: nothing of the message was taken, so the
   * caller may retry on a new connection. A loss after that does not throw:
   * the recipients not yet settled come back `deferred`.
   * @throws {Error} when the session is already closed.
   */
  async send(message: OutboundMessage): Promise<RecipientResult[]> {
    if (!this.#open) throw new Error("SmtpClient.send() on a closed session");
    return await runTransaction({
      message,
      extensions: this.#extensions,
      timeouts: this.#timeouts,
      write: (data, timeout) => this.#write(data, timeout),
      read: (timeout, what) => this.#reader.read(timeout, what),
      lost: () => this.close(),
    });
  }

  /** Says QUIT, waits briefly for the reply, and closes. Never throws. */
  async quit(): Promise<void> {
    if (!this.#open) return;
    try {
      await this.#command("QUIT", Math.min(this.#timeouts.ehlo, 10_000));
    } catch {
      // The remote may hang up without a reply; we are done either way.
    }
    this.close();
  }

  /** Closes the connection at once. */
  close(): void {
    this.#open = false;
    this.#conn.close();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
