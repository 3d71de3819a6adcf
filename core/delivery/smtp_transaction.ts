/**
 * One mail transaction of the SMTP client (RFC 5321 §3.3): local checks
 * against the remote's extensions, MAIL and RCPT (pipelined when offered,
 * RFC 2920), then DATA with dot-stuffing or BDAT (RFC 3030), and a result
 * per recipient.
 *
 * @module
 */
import { parseMailbox } from "../smtp/address.ts";
import type { ClientTimeouts } from "./smtp_client.ts";
import { type ClientReply, SmtpClientError } from "./smtp_reply.ts";
import { dotStuff, encodeXtext, hasEightBit, normalizeCrlf } from "./smtp_wire.ts";

/** A message to send, with its envelope and DSN parameters (RFC 3461). */
export interface OutboundMessage {
  /** The reverse-path; `""` is the null sender `<>`. */
  sender: string;
  recipients: {
    address: string;
    /** NOTIFY keywords: SUCCESS, FAILURE, DELAY or NEVER. */
    notify?: string[];
    /** ORCPT: the original recipient, for example `{ type: "rfc822", address }`. */
    orcpt?: { type: string; address: string };
  }[];
  /** The message; line endings are normalised to CR LF here, and it is NOT dot-stuffed. */
  data: Uint8Array;
  /** The message needs SMTPUTF8 (RFC 6531). */
  smtputf8: boolean;
  /** The message has 8-bit content (also detected from `data`). */
  eightBit: boolean;
  envid?: string;
  ret?: "FULL" | "HDRS";
}

/** What happened to one recipient. */
export interface RecipientResult {
  address: string;
  /** `sent`: the remote took it; `deferred`: try again later; `failed`: bounce. */
  status: "sent" | "deferred" | "failed";
  code: number;
  enhanced: string;
  /** The remote's reply text, sanitised, or our reason when `remote` is false. */
  text: string;
  /** Whether code and text are the remote's reply (a bounce's Diagnostic-Code). */
  remote: boolean;
}

/** What a transaction needs from its session. */
export interface TransactionIo {
  message: OutboundMessage;
  extensions: ReadonlyMap<string, string>;
  timeouts: ClientTimeouts;
  write(data: Uint8Array, timeout: number): Promise<void>;
  read(timeout: number, what: string): Promise<ClientReply>;
  /** The session is unusable: close it. */
  lost(): void;
}

type Outcome = Omit<RecipientResult, "address">;

const NOTIFY = new Set(["SUCCESS", "FAILURE", "DELAY", "NEVER"]);
const BLOCK = 64 * 1024;
const encoder = new TextEncoder();

/** Runs one transaction and returns a result per recipient, in order. */
export async function runTransaction(io: TransactionIo): Promise<RecipientResult[]> {
  const { message, extensions: ext, timeouts } = io;
  const outcomes: (Outcome | undefined)[] = message.recipients.map(() => undefined);
  const finish = () =>
    message.recipients.map((r, i) => ({ address: r.address, ...outcomes[i] as Outcome }));
  const settle = (indices: number[], outcome: Outcome) => {
    for (const i of indices) outcomes[i] ??= outcome;
  };
  const all = message.recipients.map((_, i) => i);
  const data = normalizeCrlf(message.data);
  const refusal = checkMessage(message, data, ext);
  if (refusal) {
    settle(all, refusal);
    return finish();
  }
  for (const i of all) {
    if (!validAddress(message.recipients[i]?.address ?? "")) {
      settle([i], local(553, "5.1.3", "invalid recipient address"));
    }
  }
  const active = all.filter((i) => outcomes[i] === undefined);
  if (active.length === 0) return finish();

  // A 421 anywhere means the remote is closing: the whole session is lost.
  const read = async (timeout: number, what: string) => {
    const reply = await io.read(timeout, what);
    if (reply.code === 421) throw SmtpClientError.fromReply(reply);
    return reply;
  };
  const rset = async () => {
    await io.write(encoder.encode("RSET\r\n"), timeouts.mail);
    if ((await read(timeouts.mail, "RSET")).code !== 250) io.lost();
  };
  let started = false;
  try {
    const mail = encoder.encode(`${mailCommand(message, data, ext)}\r\n`);
    const rcpts = active.map((i) => encoder.encode(`${rcptCommand(message, i, ext)}\r\n`));
    let mailReply: ClientReply;
    const rcptReplies: ClientReply[] = [];
    if (ext.has("PIPELINING")) {
      // RFC 2920: MAIL and every RCPT in one write; DATA waits for the
      // replies so that no DATA is sent when no recipient was accepted.
      await io.write(concat([mail, ...rcpts]), timeouts.mail);
      mailReply = await read(timeouts.mail, "MAIL");
      started = true;
      for (const _ of rcpts) rcptReplies.push(await read(timeouts.rcpt, "RCPT"));
    } else {
      await io.write(mail, timeouts.mail);
      mailReply = await read(timeouts.mail, "MAIL");
      started = true;
      if (mailReply.code === 250) {
        for (const rcpt of rcpts) {
          await io.write(rcpt, timeouts.rcpt);
          rcptReplies.push(await read(timeouts.rcpt, "RCPT"));
        }
      }
    }
    if (mailReply.code !== 250) {
      settle(active, refused(mailReply));
      return finish();
    }
    const accepted = active.filter((index, n) => {
      const reply = rcptReplies[n] as ClientReply;
      if (reply.code === 250 || reply.code === 251) return true;
      settle([index], refused(reply));
      return false;
    });
    if (accepted.length === 0) {
      await rset();
      return finish();
    }
    let end: ClientReply;
    if (ext.has("CHUNKING")) {
      // RFC 3030: one BDAT chunk, sent as is (no dot-stuffing).
      await writeBlocks(io, concat([encoder.encode(`BDAT ${data.byteLength} LAST\r\n`), data]));
      end = await read(timeouts.dataEnd, "BDAT");
      if (end.code !== 250) await rset();
    } else {
      await io.write(encoder.encode("DATA\r\n"), timeouts.dataInit);
      const go = await read(timeouts.dataInit, "DATA");
      if (go.code !== 354) {
        settle(accepted, refused(go));
        await rset();
        return finish();
      }
      await writeBlocks(io, concat([dotStuff(data), encoder.encode(".\r\n")]));
      end = await read(timeouts.dataEnd, "end of data");
    }
    settle(accepted, end.code === 250 ? fromReply(end) : refused(end));
  } catch (error) {
    // Timeout, hang-up or 421: the session is gone.
    io.lost();
    // Before MAIL's reply the remote took nothing of this message: a
    // connection-level failure (maybe an idle connection the remote closed),
    // which the caller may retry at once on a new connection or the next MX.
    if (!started && error instanceof SmtpClientError) throw error;
    // Later, whoever is not settled yet is retried later.
    const lost = error instanceof SmtpClientError
      ? { code: error.code, enhanced: error.enhanced, text: error.text, remote: error.remote }
      : local(421, "4.4.2", "connection lost");
    settle(all, { ...lost, status: "deferred" });
  }
  return finish();
}

/** Why the whole message cannot go to this remote, if it cannot. */
function checkMessage(
  message: OutboundMessage,
  data: Uint8Array,
  ext: ReadonlyMap<string, string>,
): Outcome | undefined {
  if (message.sender !== "" && !validAddress(message.sender)) {
    return local(553, "5.1.7", "invalid sender address");
  }
  if (needsUtf8(message) && !ext.has("SMTPUTF8")) {
    // RFC 6531 §3.2: never downgrade; the message bounces.
    return local(553, "5.6.7", "the remote does not support SMTPUTF8, which this message needs");
  }
  if ((message.eightBit || hasEightBit(data)) && !ext.has("8BITMIME")) {
    return local(554, "5.6.3", "conversion required: 8-bit message, the remote lacks 8BITMIME");
  }
  const limit = Number(ext.get("SIZE"));
  if (limit > 0 && data.byteLength > limit) {
    // RFC 1870 §6: a message over the declared SIZE would be refused anyway.
    return local(
      552,
      "5.3.4",
      `message size ${data.byteLength} exceeds the remote's limit ${limit}`,
    );
  }
  return undefined;
}

function mailCommand(
  message: OutboundMessage,
  data: Uint8Array,
  ext: ReadonlyMap<string, string>,
): string {
  let line = `MAIL FROM:<${message.sender}>`;
  if (ext.has("SIZE")) line += ` SIZE=${data.byteLength}`;
  if (message.eightBit || hasEightBit(data)) line += " BODY=8BITMIME";
  if (needsUtf8(message)) line += " SMTPUTF8";
  if (ext.has("DSN")) {
    if (message.ret) line += ` RET=${message.ret}`;
    if (message.envid !== undefined) line += ` ENVID=${encodeXtext(message.envid)}`;
  }
  return line;
}

function rcptCommand(
  message: OutboundMessage,
  index: number,
  ext: ReadonlyMap<string, string>,
): string {
  const rcpt = message.recipients[index];
  if (!rcpt) throw new RangeError(`no recipient ${index}`);
  let line = `RCPT TO:<${rcpt.address}>`;
  if (!ext.has("DSN")) return line;
  const notify = (rcpt.notify ?? []).map((n) => n.toUpperCase()).filter((n) => NOTIFY.has(n));
  if (notify.length > 0) line += ` NOTIFY=${notify.join(",")}`;
  if (rcpt.orcpt && /^[A-Za-z0-9-]+$/.test(rcpt.orcpt.type)) {
    line += ` ORCPT=${rcpt.orcpt.type};${encodeXtext(rcpt.orcpt.address)}`;
  }
  return line;
}

/** Writes `payload` in blocks, each under the data-block timeout (RFC 5321 §4.5.3.2.5). */
async function writeBlocks(io: TransactionIo, payload: Uint8Array): Promise<void> {
  for (let offset = 0; offset < payload.byteLength; offset += BLOCK) {
    await io.write(payload.subarray(offset, offset + BLOCK), io.timeouts.dataBlock);
  }
}

/**
 * Whether `address` is a mailbox we may put in `<…>`. The parser refuses
 * CR, LF, controls and stray brackets, so no command can be smuggled in.
 */
function validAddress(address: string): boolean {
  return parseMailbox(address) !== undefined;
}

function needsUtf8(message: OutboundMessage): boolean {
  // deno-lint-ignore no-control-regex
  const wide = /[^\x00-\x7f]/;
  return message.smtputf8 || wide.test(message.sender) ||
    message.recipients.some((r) => wide.test(r.address));
}

/** The outcome of a reply that settles recipients: only 2xx means sent. */
function fromReply(reply: ClientReply): Outcome {
  // A 2xx/3xx where a refusal was expected is nonsense: retry rather than lose.
  const status = reply.code >= 500 ? "failed" : reply.code >= 400 ? "deferred" : "sent";
  return { status, code: reply.code, enhanced: reply.enhanced, text: reply.text, remote: true };
}

/** The outcome of a reply that was not the success the step needed. */
function refused(reply: ClientReply): Outcome {
  const outcome = fromReply(reply);
  return outcome.status === "sent" ? { ...outcome, status: "deferred" } : outcome;
}

function local(code: number, enhanced: string, text: string): Outcome {
  return { status: code >= 500 ? "failed" : "deferred", code, enhanced, text, remote: false };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
