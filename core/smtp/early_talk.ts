/**
 * Early talkers (RFC 5321 §4.3.1, RFC 2920 §3.1): a client that speaks
 * before our greeting, or pipelines commands before we offered PIPELINING,
 * is not a real MTA waiting for replies but spamware firing blind. Like
 * Postfix's postscreen and `smtpd_forbid_unauth_pipelining`, the session
 * answers 554 5.5.0 and closes.
 *
 * @module
 */
import { type Reply, reply } from "./reply.ts";

const UPPER = 0xdf; // clears the ASCII lower-case bit

/**
 * Whether a command line breaks the pipelining rules: the client has not
 * been offered PIPELINING (it sent HELO, or no EHLO yet) and more bytes are
 * already buffered behind the line, so it sent them without waiting for our
 * reply. The last command of a write has nothing behind it and is fine.
 * Two lines are exempt: EHLO, because a client that sends EHLO speaks
 * ESMTP and commonly pipelines its first group right behind it, and BDAT,
 * whose chunk follows it as data, not commands.
 *
 * @example
 * ```ts
 * const line = new TextEncoder().encode("MAIL FROM:<a@b.example>");
 * improperPipelining(line, 24, false); // true: RCPT already waits behind it
 * improperPipelining(line, 24, true); // false: EHLO offered PIPELINING
 * ```
 */
export function improperPipelining(line: Uint8Array, buffered: number, esmtp: boolean): boolean {
  if (esmtp || buffered === 0) return false;
  return !startsWithVerb(line, "EHLO") && !startsWithVerb(line, "BDAT");
}

function startsWithVerb(line: Uint8Array, verb: string): boolean {
  if (line.byteLength < verb.length || (line.byteLength > verb.length && line[4] !== 0x20)) {
    return false;
  }
  for (let i = 0; i < verb.length; i++) {
    if (((line[i] as number) & UPPER) !== verb.charCodeAt(i)) return false;
  }
  return true;
}

/** The answer to a client that talked before the greeting. */
export function talkedEarly(hostname: string): Reply {
  return reply(554, "5.5.0", `${hostname} Protocol error: talked before the greeting`);
}

/** The answer to a client that pipelined without being offered PIPELINING. */
export function pipelinedEarly(hostname: string): Reply {
  return reply(554, "5.5.0", `${hostname} Protocol error: pipelining without PIPELINING`);
}
