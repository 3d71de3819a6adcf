/**
 * Delivery status notifications (RFC 3464), the reports a sender gets back
 * when a message fails, is delayed or (with RFC 3461 NOTIFY=SUCCESS) arrives.
 *
 * The file runs past the usual ~300 lines because the MIME writing a report
 * needs (folding, quoted-printable, the boundary) lives here while reports are
 * its only user; move it to its own file when a second one appears.
 *
 * @module
 */
import { concatBytes } from "../smtp/message.ts";
import { rfc5322Date } from "../smtp/received.ts";

/** One recipient's line in a report. */
export interface DsnRecipient {
  /** The final recipient address (after alias expansion). */
  address: string;
  /** RFC 3461 ORCPT, xtext decoded, if the client gave one: `{ type: "rfc822", address }`. */
  orcpt?: { type: string; address: string };
  action: "failed" | "delayed" | "delivered" | "relayed" | "expanded";
  /** RFC 3463 enhanced status, e.g. `5.1.1`. */
  status: string;
  /** The remote's reply (text may span lines); undefined for local failures. */
  remote?: { mta: string; code: number; text: string };
  /** Our own explanation when there is no remote reply, e.g. "No mailbox here". */
  diagnostic?: string;
  lastAttempt?: Date;
  /** Written only for `delayed` recipients (RFC 3464 §2.3.9). */
  willRetryUntil?: Date;
}

/** Everything a report is built from. */
export interface DsnInput {
  /** Our host name. */
  reportingMta: string;
  /** The original message's queue id. */
  queueId: string;
  arrivalDate: Date;
  /** The envelope sender; never "" (a bounce never goes to `<>`, RFC 3461 §6.2). */
  originalSender: string;
  /** RFC 3461 ENVID, xtext decoded. */
  envid?: string;
  /** RFC 3461 RET; the caller picks HDRS when the client gave none. */
  ret: "FULL" | "HDRS";
  recipients: DsnRecipient[];
  /** The original message bytes. */
  original: Uint8Array;
  date: Date;
  /** E.g. `<QUEUEID.bounce@host>`. */
  messageId: string;
  /** Return the full content only up to this many octets (default 1 MiB), else headers only. */
  maxReturnSize?: number;
}

/** A built report. */
export interface DsnMessage {
  /** The whole RFC 5322 message, CRLF line endings, no line over 998 octets. */
  bytes: Uint8Array;
  /**
   * True when the report carries 8-bit octets (an 8-bit original or header
   * section, or a UTF-8 sender address). The caller must then send it with
   * `BODY=8BITMIME` (RFC 6152), and with SMTPUTF8 when the sender is UTF-8.
   */
  eightBit: boolean;
}

/** The default {@linkcode DsnInput.maxReturnSize}: 1 MiB. */
export const DEFAULT_MAX_RETURN_SIZE = 1024 * 1024;
/** Remote replies and other free text are cut to this many characters, so lines stay < 998. */
const TEXT_CAP = 800;
const encoder = new TextEncoder();
/** C0 controls and DEL (and, with `C1`, the C1 controls). */
// deno-lint-ignore no-control-regex
const CONTROLS = /[\x00-\x1f\x7f]/g;
// deno-lint-ignore no-control-regex
const CONTROLS_C1 = /[\x00-\x1f\x7f-\x9f]/g;

const SUBJECTS = {
  failed: "Undelivered Mail Returned to Sender",
  delayed: "Delayed Mail (still being retried)",
  delivered: "Successful Mail Delivery Report",
} as const;

const GROUPS = [
  ["failed", "Your message could not be delivered to these recipients. The mail system gave up:"],
  ["delayed", "Delivery to these recipients is delayed. The mail system is still trying:"],
  ["delivered", "Your message was delivered to these recipients:"],
  [
    "relayed",
    "Your message was passed on to these recipients' mail systems, which may not report back:",
  ],
  ["expanded", "Your message was delivered to these lists or aliases, which passed it on:"],
] as const;

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

function checkDate(date: Date | undefined, what: string): void {
  check(date === undefined || !Number.isNaN(date.getTime()), `invalid ${what}`);
}

/**
 * Untrusted text as one capped line: controls become spaces and, unless
 * `unicode`, other non-ASCII characters become `?` (RFC 3464 fields are ASCII).
 */
function oneLine(text: string, unicode = false): string {
  let line = text.replace(CONTROLS_C1, " ");
  if (!unicode) line = line.replace(/[^\x20-\x7e]/gu, "?");
  const chars = Array.from(line.replace(/\s+/g, " ").trim());
  return chars.length > TEXT_CAP ? `${chars.slice(0, TEXT_CAP - 3).join("")}...` : chars.join("");
}

/** A remote reply as one safe line: lines joined, their repeated reply codes dropped. */
function replyLine(code: number, text: string): string {
  const prefix = new RegExp(`^${code}[ -]`);
  return oneLine(text.split(/\r\n|\r|\n/).map((l) => l.replace(prefix, "")).join(" "));
}

/**
 * An address for an RFC 3464 address field. A printable ASCII address goes as
 * is; anything else uses RFC 6533 §3 `utf-8` type with `\x{HEX}` escapes so
 * the part stays 7-bit. Controls are dropped: no address holds one.
 */
function addressField(type: string, address: string, space: string): string {
  const clean = address.replace(CONTROLS, "");
  if (/^[\x21-\x7e]+$/.test(clean) && /^[A-Za-z0-9-]+$/.test(type)) {
    return `${type};${space}${clean}`;
  }
  let text = "";
  for (const char of clean) {
    const point = char.codePointAt(0) ?? 0;
    const plain = point > 0x20 && point < 0x7f && !"+=\\".includes(char);
    const next = plain ? char : `\\x{${point.toString(16).toUpperCase()}}`;
    if (text.length + next.length > TEXT_CAP) break; // a field line stays under 998 octets
    text += next;
  }
  return `utf-8;${space}${text}`;
}

/** A header field, folded at spaces near 78 columns (RFC 5322 §2.2.3). */
function field(name: string, value: string): string {
  let out = `${name}:`;
  let width = out.length;
  value.split(" ").forEach((word, i) => {
    const fold = i > 0 && word !== "" && width + 1 + word.length > 78;
    out += fold ? `\r\n ${word}` : ` ${word}`;
    width = fold ? 1 + word.length : width + 1 + word.length;
  });
  return `${out}\r\n`;
}

/** Plain-text lines wrapped at 76 columns with an indent. */
function wrap(text: string, indent: string): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > 76) {
      lines.push(indent + line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(indent + line);
  return lines.join("\r\n") + "\r\n";
}

/** Turns bare CR and bare LF into CRLF: nothing else may go on the wire (RFC 5321 §2.3.8). */
function crlf(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let bare = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if ((b === 13 && bytes[i + 1] !== 10) || (b === 10 && bytes[i - 1] !== 13)) bare = true;
  }
  if (!bare) return bytes;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    if (b === 13 && bytes[i + 1] === 10) out.push(13, 10), i++;
    else if (b === 13 || b === 10) out.push(13, 10);
    else out.push(b);
  }
  return Uint8Array.from(out);
}

/** True if no octet is NUL and no line exceeds 998 octets (RFC 5322 §2.1.1, RFC 2045 §2.8). */
function lineSafe(bytes: Uint8Array): boolean {
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] === 0) return false;
    if (i === bytes.length || bytes[i] === 10) {
      if (i - start - (bytes[i - 1] === 13 ? 1 : 0) > 998) return false;
      start = i + 1;
    }
  }
  return true;
}

function hasEightBit(bytes: Uint8Array): boolean {
  return bytes.some((b) => b > 127);
}

/** Quoted-printable (RFC 2045 §6.7) of CRLF text, lines ≤ 76 characters. */
function quotedPrintable(bytes: Uint8Array): Uint8Array {
  const lines: string[] = [];
  let line = "";
  for (let i = 0; i <= bytes.length; i++) {
    const b = bytes[i];
    if (b === undefined || (b === 13 && bytes[i + 1] === 10)) {
      lines.push(line);
      line = "";
      i++;
      continue;
    }
    const last = bytes[i + 1] === undefined || bytes[i + 1] === 13;
    const literal = (b > 32 && b < 127 && b !== 61) || ((b === 32 || b === 9) && !last);
    const token = literal
      ? String.fromCharCode(b)
      : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
    const width = line.length - line.lastIndexOf("\n") - 1;
    if (width + token.length > 75) line += "=\r\n";
    line += token;
  }
  return encoder.encode(lines.join("\r\n"));
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  for (
    let at = haystack.indexOf(first ?? 0);
    at !== -1;
    at = haystack.indexOf(first ?? 0, at + 1)
  ) {
    if (needle.every((b, i) => haystack[at + i] === b)) return at;
  }
  return -1;
}

function randomToken(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/**
 * Picks a MIME boundary from `seed` (a queue id) and a random token that
 * occurs in none of `contents` (RFC 2046 §5.1.1). It starts with `=_`, which
 * quoted-printable text can never contain.
 *
 * @example
 * ```ts
 * const boundary = chooseBoundary("3n7WQkd9xLq2Bt", [original]);
 * ```
 */
export function chooseBoundary(
  seed: string,
  contents: readonly Uint8Array[],
  random: () => string = randomToken,
): string {
  for (let attempt = 0; attempt < 100; attempt++) {
    const boundary = `=_${seed}.${random()}`.slice(0, 70);
    const bytes = encoder.encode(boundary);
    if (contents.every((c) => indexOfBytes(c, bytes) === -1)) return boundary;
  }
  throw new Error("no MIME boundary found that avoids the content");
}

/** The header section of a CRLF message, ending in CRLF (empty if there is none). */
function headerSection(message: Uint8Array): Uint8Array {
  if (message[0] === 13 && message[1] === 10) return new Uint8Array(0);
  const end = indexOfBytes(message, Uint8Array.of(13, 10, 13, 10));
  if (end !== -1) return message.subarray(0, end + 2);
  const n = message.length;
  return n >= 2 && message[n - 2] === 13 && message[n - 1] === 10
    ? message
    : Uint8Array.from([...message, 13, 10]);
}

interface Part {
  head: string;
  body: Uint8Array;
}

/** The third part: the whole original, or its header section and why. */
function originalPart(input: DsnInput, subject: string): Part & { note: string } {
  const original = crlf(input.original);
  const max = input.maxReturnSize ?? DEFAULT_MAX_RETURN_SIZE;
  const noun = subject === SUBJECTS.failed
    ? "Undelivered"
    : subject === SUBJECTS.delayed
    ? "Delayed"
    : "Delivered";
  let note = "The header section of your message is attached.";
  // RFC 3461 §4.3: RET=FULL applies only to reports of a failure; a delay or
  // success report returns the headers alone.
  if (input.ret === "FULL" && subject === SUBJECTS.failed) {
    if (original.length > max) {
      note += ` The whole message (${original.length} octets) is not, because it is larger than` +
        ` the ${max}-octet limit for returned messages.`;
    } else if (!lineSafe(original)) {
      note += " The whole message is not, because it has lines or octets that cannot be" +
        " returned unchanged.";
    } else {
      const cte = hasEightBit(original) ? "8bit" : "7bit";
      return {
        head: `Content-Description: ${noun} Message\r\nContent-Type: message/rfc822\r\n` +
          `Content-Transfer-Encoding: ${cte}\r\n`,
        body: original,
        note: "Your message is attached.",
      };
    }
  }
  const headers = headerSection(original);
  // text/* may be encoded, unlike message/rfc822 (RFC 2046 §5.2.1), so
  // over-long header lines or NULs travel as quoted-printable.
  const safe = lineSafe(headers);
  const cte = !safe ? "quoted-printable" : hasEightBit(headers) ? "8bit" : "7bit";
  return {
    head: `Content-Description: ${noun} Message Headers\r\nContent-Type: text/rfc822-headers\r\n` +
      `Content-Transfer-Encoding: ${cte}\r\n`,
    body: safe ? headers : quotedPrintable(headers),
    note,
  };
}

/** The `message/delivery-status` body (RFC 3464 §2.1–§2.3, fields in ABNF order). */
function statusBody(input: DsnInput): string {
  let out = input.envid === undefined ? "" : field("Original-Envelope-Id", oneLine(input.envid));
  out += field("Reporting-MTA", `dns; ${input.reportingMta}`);
  out += field("Arrival-Date", rfc5322Date(input.arrivalDate));
  out += field("X-Postino-Queue-ID", input.queueId);
  for (const r of input.recipients) {
    out += "\r\n";
    if (r.orcpt) {
      out += field("Original-Recipient", addressField(r.orcpt.type, r.orcpt.address, ""));
    }
    out += field("Final-Recipient", addressField("rfc822", r.address, " "));
    out += field("Action", r.action);
    out += field("Status", r.status);
    if (r.remote) {
      out += field("Remote-MTA", `dns; ${oneLine(r.remote.mta)}`);
      out += field(
        "Diagnostic-Code",
        `smtp; ${r.remote.code} ${replyLine(r.remote.code, r.remote.text)}`,
      );
    } else if (r.diagnostic !== undefined) {
      out += field("Diagnostic-Code", `X-Postino; ${oneLine(r.diagnostic)}`);
    }
    if (r.lastAttempt) out += field("Last-Attempt-Date", rfc5322Date(r.lastAttempt));
    if (r.willRetryUntil && r.action === "delayed") {
      out += field("Will-Retry-Until", rfc5322Date(r.willRetryUntil));
    }
  }
  return out;
}

/** The human-readable first part: who, why, and what to do. */
function textBody(input: DsnInput, note: string): string {
  let out = `This is the mail delivery system at ${input.reportingMta}.\r\n\r\n`;
  for (const [action, heading] of GROUPS) {
    const group = input.recipients.filter((r) => r.action === action);
    if (group.length === 0) continue;
    out += wrap(heading, "") + "\r\n";
    for (const r of group) {
      const was = r.orcpt && r.orcpt.address !== r.address
        ? ` (sent to ${oneLine(r.orcpt.address, true)})`
        : "";
      out += wrap(`<${oneLine(r.address, true)}>${was}`, "  ");
      if (r.remote) {
        out += wrap(`The server ${oneLine(r.remote.mta)} said:`, "    ");
        out += wrap(`${r.remote.code} ${replyLine(r.remote.code, r.remote.text)}`, "      ");
      }
      if (r.diagnostic !== undefined) out += wrap(oneLine(r.diagnostic, true), "    ");
      if (r.willRetryUntil && action === "delayed") {
        out += wrap(`It will keep trying until ${rfc5322Date(r.willRetryUntil)}.`, "    ");
      }
      out += "\r\n";
    }
  }
  const failed = input.recipients.some((r) => r.action === "failed");
  const delayed = input.recipients.some((r) => r.action === "delayed");
  if (failed) {
    out += wrap(
      "What to do: check each address above for typing mistakes and send the message again. " +
        "If an address is right, the reply above says why it failed; you can reach the " +
        "recipient another way, or ask the postmaster of their domain for help.",
      "",
    ) + "\r\n";
  }
  if (delayed) {
    out += wrap(
      "You need not send a delayed message again. If it still cannot be delivered when the " +
        "mail system gives up, you will get another report.",
      "",
    ) + "\r\n";
  }
  out += wrap(`${note} Its queue id at ${input.reportingMta} was ${input.queueId}.`, "");
  return out;
}

/** Throws RangeError on misuse: the caller's data, not the network's, is wrong. */
function validate(input: DsnInput): void {
  check(input.originalSender !== "", "a report is never sent to the null sender <>");
  check(
    input.originalSender.length <= 512 &&
      input.originalSender.replace(CONTROLS, "") === input.originalSender,
    "invalid originalSender",
  );
  check(/^[A-Za-z0-9[][A-Za-z0-9.:\[\]-]{0,254}$/.test(input.reportingMta), "invalid reportingMta");
  check(/^[A-Za-z0-9._-]{1,64}$/.test(input.queueId), "invalid queueId");
  check(/^<[\x21-\x3b\x3d\x3f-\x7e]{1,900}>$/.test(input.messageId), "invalid messageId");
  check(input.recipients.length > 0, "a report needs at least one recipient");
  check((input.maxReturnSize ?? 0) >= 0, "invalid maxReturnSize");
  for (const d of ["arrivalDate", "date"] as const) checkDate(input[d], d);
  for (const r of input.recipients) {
    check(/^[245]\.\d{1,3}\.\d{1,3}$/.test(r.status), `invalid status "${r.status}"`);
    check(
      !r.remote || (Number.isInteger(r.remote.code) && r.remote.code >= 200 && r.remote.code < 600),
      "invalid reply code",
    );
    checkDate(r.lastAttempt, "lastAttempt");
    checkDate(r.willRetryUntil, "willRetryUntil");
  }
}

/**
 * Builds an RFC 3464 delivery status notification: a `multipart/report` with
 * a plain-words part, the `message/delivery-status` part, and the original
 * headers (RET=HDRS, or an original too big to return) or the whole original
 * (RET=FULL). The report is 7-bit unless the original or sender is 8-bit;
 * see {@linkcode DsnMessage.eightBit}.
 *
 * @throws {RangeError} when `originalSender` is "" (never bounce to `<>`),
 *   there are no recipients, or a field is malformed.
 *
 * @example
 * ```ts
 * const { bytes, eightBit } = buildDsn({
 *   reportingMta: "mx.example.org", queueId: id, arrivalDate, date: new Date(),
 *   originalSender: "alice@example.org", ret: "HDRS", original,
 *   messageId: `<${id}.bounce@mx.example.org>`,
 *   recipients: [{ address: "bob@example.com", action: "failed", status: "5.1.1",
 *     remote: { mta: "mx.example.com", code: 550, text: "5.1.1 user unknown" } }],
 * });
 * ```
 */
export function buildDsn(input: DsnInput): DsnMessage {
  validate(input);
  const actions = input.recipients.map((r) => r.action);
  const subject = actions.includes("failed")
    ? SUBJECTS.failed
    : actions.includes("delayed")
    ? SUBJECTS.delayed
    : SUBJECTS.delivered;
  const third = originalPart(input, subject);
  const text = encoder.encode(textBody(input, third.note));
  const parts: Part[] = [
    {
      head: "Content-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n" +
        `Content-Transfer-Encoding: ${hasEightBit(text) ? "quoted-printable" : "7bit"}\r\n`,
      body: hasEightBit(text) ? quotedPrintable(text) : text,
    },
    {
      head: "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n",
      body: encoder.encode(statusBody(input)),
    },
    third,
  ];
  const boundary = chooseBoundary(input.queueId, parts.map((p) => p.body));
  const eightBitBody = parts.some((p) => hasEightBit(p.body));
  const head = field("From", `Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`) +
    field("To", `<${input.originalSender}>`) +
    field("Subject", subject) +
    field("Date", rfc5322Date(input.date)) +
    field("Message-ID", input.messageId) +
    field("Auto-Submitted", "auto-replied") + // RFC 3834 §5
    field("MIME-Version", "1.0") +
    field("Content-Type", `multipart/report; report-type=delivery-status; boundary="${boundary}"`) +
    // RFC 2045 §6.4: a multipart is labelled with its widest part's encoding.
    field("Content-Transfer-Encoding", eightBitBody ? "8bit" : "7bit") +
    "\r\nThis is a MIME-encapsulated message.\r\n";
  const bytes = concatBytes([
    encoder.encode(head),
    ...parts.flatMap((p) => [encoder.encode(`\r\n--${boundary}\r\n${p.head}\r\n`), p.body]),
    encoder.encode(`\r\n--${boundary}--\r\n`),
  ]);
  return { bytes, eightBit: hasEightBit(bytes) };
}
