/**
 * Reading the remote server's replies for the SMTP client: multi-line
 * parsing (RFC 5321 §4.2.1), enhanced status codes (RFC 2034, RFC 3463) with
 * a default when the remote sends none, sanitising of the text we keep, and
 * the reply timeouts of RFC 5321 §4.5.3.2.
 *
 * @module
 */
import type { Conn } from "../runtime/conn.ts";

/** One reply from the remote server. */
export interface ClientReply {
  code: number;
  /** The enhanced status code, or `C.0.0` derived from the basic code. */
  enhanced: string;
  /** Sanitised text of all lines, joined by spaces, without code prefixes. */
  text: string;
  /** Each line's text after `NNN-`/`NNN `, as sent (EHLO keywords live here). */
  lines: string[];
}

/**
 * A connection-level failure of the SMTP client: the remote is unreachable,
 * refused the session, timed out, or TLS policy could not be met.
 * `permanent` means retrying the same host will not help.
 */
export class SmtpClientError extends Error {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
  readonly permanent: boolean;
  /** Whether code and text came from the remote's reply (not our own words). */
  readonly remote: boolean;

  constructor(code: number, enhanced: string, text: string, remote = false) {
    super(`${code} ${enhanced} ${text}`);
    this.name = "SmtpClientError";
    this.code = code;
    this.enhanced = enhanced;
    this.text = text;
    this.permanent = code >= 500;
    this.remote = remote;
  }

  /** An error carrying a remote reply. */
  static fromReply(reply: ClientReply): SmtpClientError {
    return new SmtpClientError(reply.code, reply.enhanced, reply.text, true);
  }
}

/** Longest reply text we keep (RFC 5321 §4.5.3.1.5 allows 512 per line). */
export const MAX_TEXT = 500;
// Limits on what a remote may make us buffer for one reply.
const MAX_LINE = 16 * 1024;
const MAX_LINES = 200;

const LINE = /^([2-5]\d\d)(?:([ -])(.*))?$/s;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?: +|$)/;

/**
 * Makes remote text safe to log and to put in a bounce: control and format
 * characters (CR, LF, NUL, bidi overrides, …) become spaces, runs of spaces
 * collapse, and the result is capped at {@linkcode MAX_TEXT} characters.
 */
export function sanitizeReplyText(text: string): string {
  const clean = text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, " ").replace(/ {2,}/g, " ").trim();
  const chars = Array.from(clean);
  return chars.length <= MAX_TEXT ? clean : `${chars.slice(0, MAX_TEXT - 3).join("")}...`;
}

/**
 * Builds a reply from its lines (CR LF already removed); `undefined` when a
 * line is not `NNN`, `NNN text` or `NNN-text` with a 2xx–5xx code.
 */
export function parseReply(rawLines: readonly string[]): ClientReply | undefined {
  let code = 0;
  let enhanced: string | undefined;
  const lines: string[] = [];
  const texts: string[] = [];
  for (const [index, raw] of rawLines.entries()) {
    const match = LINE.exec(raw);
    if (!match) return undefined;
    // The last line's code is the reply's; RFC 5321 §4.2.1 wants them equal.
    code = Number(match[1]);
    let text = match[3] ?? "";
    lines.push(text);
    const status = ENHANCED.exec(text);
    if (status && status[1] === match[1]?.[0]) {
      if (index === 0) enhanced = `${status[1]}.${Number(status[2])}.${Number(status[3])}`;
      text = text.slice(status[0].length);
    }
    texts.push(text);
  }
  if (lines.length === 0) return undefined;
  const klass = String(code)[0];
  if (enhanced === undefined || enhanced[0] !== klass) enhanced = `${klass}.0.0`;
  return { code, enhanced, text: sanitizeReplyText(texts.join(" ")), lines };
}

/** The shared deadline helper, under the name the client code uses. */
export { withDeadline as withTimeout } from "../deadline.ts";
import { withDeadline as withTimeout } from "../deadline.ts";

/** Reads whole replies from a connection, one at a time. */
export class ReplyReader {
  #conn: Conn;
  #buffer = new Uint8Array(0);
  #decoder = new TextDecoder();

  constructor(conn: Conn) {
    this.#conn = conn;
  }

  /** Bytes received but not yet part of a returned reply. */
  get buffered(): number {
    return this.#buffer.byteLength;
  }

  /**
   * The next complete reply. Throws {@linkcode SmtpClientError} (temporary)
   * when the remote hangs up, sends garbage, or takes longer than
   * `timeoutMs`; `waitingFor` names the step for the error text.
   */
  async read(timeoutMs: number, waitingFor: string): Promise<ClientReply> {
    return await withTimeout(
      this.#read(waitingFor),
      timeoutMs,
      () => new SmtpClientError(421, "4.4.2", `timeout waiting for the reply to ${waitingFor}`),
    );
  }

  async #read(waitingFor: string): Promise<ClientReply> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.#line(waitingFor);
      lines.push(line);
      const reply = parseReply([line]);
      if (!reply || lines.length > MAX_LINES) {
        throw new SmtpClientError(421, "4.5.0", `malformed reply to ${waitingFor}`);
      }
      // `NNN-` continues the reply; `NNN ` or a bare `NNN` ends it.
      if (line[3] !== "-") return parseReply(lines) as ClientReply;
    }
  }

  async #line(waitingFor: string): Promise<string> {
    for (;;) {
      const lf = this.#buffer.indexOf(0x0a);
      if (lf !== -1) {
        const end = lf > 0 && this.#buffer[lf - 1] === 0x0d ? lf - 1 : lf;
        const line = this.#decoder.decode(this.#buffer.subarray(0, end));
        this.#buffer = this.#buffer.slice(lf + 1);
        return line;
      }
      if (this.#buffer.byteLength > MAX_LINE) {
        throw new SmtpClientError(421, "4.5.0", `reply line too long in reply to ${waitingFor}`);
      }
      const chunk = await this.#conn.read();
      if (chunk === null) {
        throw new SmtpClientError(421, "4.4.2", `connection lost waiting for ${waitingFor}`);
      }
      const joined = new Uint8Array(this.#buffer.byteLength + chunk.byteLength);
      joined.set(this.#buffer);
      joined.set(chunk, this.#buffer.byteLength);
      this.#buffer = joined;
    }
  }
}
