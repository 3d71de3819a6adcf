/**
 * SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463).
 *
 * @module
 */

/** One reply: a three-digit code, an enhanced code and one or more lines. */
export interface Reply {
  code: number;
  /** Enhanced status code such as `2.1.0`; empty only for the greeting. */
  enhanced: string;
  lines: string[];
}

/** Builds a {@linkcode Reply}. `text` may hold several lines. */
export function reply(code: number, enhanced: string, text: string | string[]): Reply {
  return { code, enhanced, lines: Array.isArray(text) ? text : [text] };
}

/** Formats a reply for the wire, multi-line with `-` continuations. */
export function formatReply(r: Reply): string {
  const prefix = r.enhanced ? `${r.enhanced} ` : "";
  const lines = r.lines.length > 0 ? r.lines : [""];
  return lines.map((line, i) => {
    const sep = i === lines.length - 1 ? " " : "-";
    // Reply text must never carry a line break of its own (smuggling-safe).
    // Reply text is printable (RFC 5321 §4.2): never echo a client's control bytes.
    // deno-lint-ignore no-control-regex
    const clean = line.replace(/[\r\n]+/g, " ").replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "?");
    const text = `${r.code}${sep}${prefix}${clean}`;
    // An empty SASL challenge is "334 " with its space (RFC 4954 §4).
    return (r.code === 334 ? text : text.trimEnd()) + "\r\n";
  }).join("");
}

/**
 * An error that carries the reply to send, for deep helpers (parsers,
 * readers) that must end the current command with a specific answer.
 */
export class SmtpError extends Error {
  readonly reply: Reply;

  constructor(code: number, enhanced: string, text: string) {
    super(`${code} ${enhanced} ${text}`);
    this.name = "SmtpError";
    this.reply = reply(code, enhanced, text);
  }
}

/** Whether a reply code is a failure (4xx or 5xx). */
export function isFailure(r: Reply): boolean {
  return r.code >= 400;
}
