/**
 * Message intake: DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030 §2), from the
 * `data` hook to the final reply. It reads the body under the size, line
 * and bare CR/LF rules, stamps the Received field, runs `data_post` and
 * `queue`, and answers 250 only once a queue took the message. The session
 * hands it a narrow {@linkcode IntakeApi} and keeps the state machine: this
 * module asks for the move into `bdat` and for the end of the transaction.
 *
 * @module
 */
import { type Decision, tempfail } from "../hooks/decision.ts";
import type { Connection, Transaction } from "../hooks/plugin.ts";
import type { HookArgs } from "../hooks/runner.ts";
import type { Logger } from "../log.ts";
import { type BareLfPolicy, type DataResult, readDotData } from "./data_reader.ts";
import type { Input } from "./input.ts";
import { concatBytes, Message } from "./message.ts";
import { protocolName, receivedValue } from "./received.ts";
import { type Reply, reply } from "./reply.ts";
import type { State } from "./session_state.ts";

/** RFC 5321 §4.5.3.1.6: 1000 octets for a text line, CRLF included. */
const MAX_TEXT_LINE = 1000;

/** Why a message is refused once read, before any plugin sees it. */
export interface Fault {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

const TOO_BIG: Fault = { code: 552, enhanced: "5.3.4", text: "Message size exceeds fixed limit" };

/** The settings intake reads. */
export interface IntakeSettings {
  hostname: string;
  maxMessageSize: number;
  bareLf: BareLfPolicy;
  /** A whole DATA body, or all BDAT chunks of one message. */
  dataTimeoutMs?: number | undefined;
}

/** The hooks intake runs. */
type IntakeHook = "data" | "data_post" | "queue";

/** What DATA and BDAT need from the session. */
export interface IntakeApi {
  readonly connection: Connection;
  /** The open transaction; DATA, and BDAT past its sequence check, always have one. */
  readonly transaction: Transaction | undefined;
  /** The session's state when the command came. */
  readonly state: State;
  /** Whether the client said EHLO (the Received field's protocol). */
  readonly esmtp: boolean;
  readonly settings: IntakeSettings;
  readonly log: Logger;
  readonly input: Input;
  /** This transaction's BDAT chunks; the session empties them when it resets. */
  readonly chunks: Chunks;
  send(r: Reply): void;
  /** Sends a failure reply and counts it as an error. */
  error(code: number, enhanced: string, text: string): void;
  /** Sends a refusing decision's reply; it may end the session. */
  refuse(decision: Decision): void;
  /** Logs a refused stage with the queue id. */
  logReject(stage: string, decision: Decision, subject: string): void;
  hook<K extends IntakeHook>(hook: K, ...args: HookArgs<K>): Promise<Decision | undefined>;
  /** Moves the session into `bdat`: the first chunk was accepted. */
  enterBdat(): void;
  /** Resets the transaction and returns to `greeted`, unless the session closed. */
  endTransaction(): Promise<void>;
}

/** The BDAT chunks of one message so far (RFC 3030 §2). */
export class Chunks {
  #parts: Uint8Array[] = [];
  #bytes = 0;

  /** The bytes kept, in order. */
  get parts(): Uint8Array[] {
    return this.#parts;
  }

  /** The bytes the chunks announced, kept or not. */
  get bytes(): number {
    return this.#bytes;
  }

  /** How many more bytes to keep: one past `maxBytes`, so an oversized message shows. */
  room(maxBytes: number): number {
    return Math.max(0, maxBytes + 1 - this.#bytes);
  }

  /** Adds one chunk: the parts kept of it, and the size it announced. */
  add(parts: readonly Uint8Array[], size: number): void {
    this.#parts.push(...parts);
    this.#bytes += size;
  }

  /** Forgets every chunk (the transaction ended). */
  clear(): void {
    this.#parts = [];
    this.#bytes = 0;
  }
}

/**
 * Parses BDAT's argument, `<size> [LAST]`.
 *
 * @example
 * ```ts
 * parseBdat("86 LAST"); // { size: 86, last: true }
 * parseBdat("-1"); // undefined
 * ```
 */
export function parseBdat(argument: string): { size: number; last: boolean } | undefined {
  const match = /^(\d{1,15})(?: +(LAST))?$/i.exec(argument);
  return match ? { size: Number(match[1]), last: match[2] !== undefined } : undefined;
}

/** What is wrong with a DATA body as read, or `undefined` when nothing is. */
export function bodyFault(
  body: Pick<DataResult, "tooBig" | "bareCr" | "bareLf" | "longLine">,
  bareLf: BareLfPolicy,
): Fault | undefined {
  if (body.tooBig) return TOO_BIG;
  if (body.bareCr || (body.bareLf && bareLf === "reject")) {
    // RFC 5321 §2.3.8; refusing bare CR/LF is what stops SMTP smuggling.
    return {
      code: 550,
      enhanced: "5.5.2",
      text: "Bare CR or LF in message; lines must end with CRLF",
    };
  }
  if (body.longLine) {
    return { code: 554, enhanced: "5.6.0", text: "Message has a line over 1000 octets" };
  }
  return undefined;
}

/** Runs `DATA <argument>`: the `data` hook, 354, the body, and the final reply. */
export async function runData(api: IntakeApi, argument: string): Promise<void> {
  if (argument !== "") return api.error(501, "5.5.4", "DATA takes no arguments");
  const decision = await api.hook("data");
  if (decision && decision.kind !== "accept") return api.refuse(decision);
  api.send(reply(354, "", "End data with <CR><LF>.<CR><LF>"));
  api.input.startPhase(api.settings.dataTimeoutMs); // ends with the transaction
  const body = await readDotData(api.input, {
    maxBytes: api.settings.maxMessageSize,
    maxLineLength: MAX_TEXT_LINE,
    bareLf: api.settings.bareLf,
  });
  const fault = bodyFault(body, api.settings.bareLf);
  if (fault) return await failMessage(api, fault);
  await finishMessage(api, body.parts);
}

/**
 * Runs `BDAT <argument>`. The chunk is always read, even when refused, so
 * the stream stays in step; the `data` hook runs at the first chunk.
 */
export async function runBdat(api: IntakeApi, argument: string): Promise<void> {
  const command = parseBdat(argument);
  if (!command) return api.error(501, "5.5.4", "Syntax: BDAT <size> [LAST]");
  const { size, last } = command;
  const { chunks, input, settings, state } = api;
  input.startPhase(settings.dataTimeoutMs); // one deadline for all chunks
  const parts = await input.readBytes(size, chunks.room(settings.maxMessageSize));
  if (state !== "rcpt" && state !== "bdat") {
    input.endPhase();
    const text = state === "mail" ? "No valid recipients" : "Need MAIL and RCPT before BDAT";
    return api.error(503, "5.5.1", text);
  }
  if (state === "rcpt") {
    const decision = await api.hook("data");
    if (decision && decision.kind !== "accept") {
      await api.endTransaction();
      return api.refuse(decision);
    }
    api.enterBdat();
  }
  chunks.add(parts, size);
  if (!last) return api.send(reply(250, "2.0.0", `${size} octets received`));
  if (chunks.bytes > settings.maxMessageSize) return await failMessage(api, TOO_BIG);
  await finishMessage(api, chunks.parts);
}

async function failMessage(api: IntakeApi, fault: Fault): Promise<void> {
  const { code, enhanced, text } = fault;
  const id = api.transaction?.id;
  api.log.event("reject", { conn: api.connection.id, id, stage: "data", code, reason: text });
  await api.endTransaction();
  api.error(code, enhanced, text);
}

/** Adds trace fields, runs data_post and queue, and answers. */
async function finishMessage(api: IntakeApi, parts: Uint8Array[]): Promise<void> {
  const { connection, settings } = api;
  const transaction = api.transaction as Transaction;
  const message = Message.parse(concatBytes(parts));
  message.prepend(
    "Received",
    receivedValue({
      helo: connection.helo?.name,
      remoteAddress: connection.remote.address,
      hostname: settings.hostname,
      protocol: protocolName({
        esmtp: api.esmtp,
        tls: connection.tls !== undefined,
        authenticated: connection.user !== undefined,
        utf8: transaction.params.smtputf8,
      }),
      queueId: transaction.id,
      tls: connection.tls,
      recipient: transaction.recipients.length === 1
        ? transaction.recipients[0]?.mailbox.address
        : undefined,
      date: new Date(),
    }),
  );
  const edited = await api.hook("data_post", message);
  const decision = edited && edited.kind !== "accept"
    ? edited
    : (await api.hook("queue", message) ??
      tempfail(451, "4.3.0", "Message not queued: no queue accepted it"));
  if (decision.kind === "accept") {
    api.log.event("queued", {
      conn: connection.id,
      id: transaction.id,
      from: transaction.sender?.address ?? "<>",
      rcpts: transaction.recipients.length,
      size: message.size,
    });
    api.send(decision.reply ?? reply(250, "2.0.0", `Ok: queued as ${transaction.id}`));
  } else {
    api.logReject("queue", decision, transaction.id);
    api.refuse(decision);
  }
  await api.endTransaction();
}
