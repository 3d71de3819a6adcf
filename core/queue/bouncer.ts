/**
 * Turns permanently failed recipients into one RFC 3464 report to the
 * sender and queues it through the spool like any other message. Reports
 * use the null sender, so they can never bounce in turn.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { buildDsn, type DsnRecipient } from "./bounce.ts";
import type { Delay, DsnBatch, Failure, Success } from "./scheduler.ts";
import type { DueMessage, Spool } from "./spool.ts";

/** Options for {@linkcode createBouncer}. */
export interface BouncerOptions {
  spool: Pick<Spool, "put">;
  hostname: string;
  now(): number;
  newQueueId(): string;
  /** Called after the report is queued, so delivery starts at once. */
  queued(): void;
  log: Logger;
  /** For the Will-Retry-Until field of delay warnings. */
  maxQueueLifetimeMs: number;
}

/** What one failure says in the report. */
export function dsnRecipient(failure: Failure, at: Date): DsnRecipient {
  const { outcome, recipient } = failure;
  return {
    address: recipient.address,
    ...(recipient.orcpt ? { orcpt: recipient.orcpt } : {}),
    action: "failed",
    status: outcome.dsnStatus ?? outcome.enhanced,
    ...(outcome.host
      ? {
        remote: {
          mta: outcome.host,
          code: outcome.code,
          text: `${outcome.enhanced} ${outcome.text}`,
        },
      }
      : { diagnostic: `${outcome.code} ${outcome.enhanced} ${outcome.text}` }),
    lastAttempt: at,
  };
}

/** What one success says in the report: delivered here, or relayed to a hop without DSN. */
export function dsnSuccess(success: Success, at: Date): DsnRecipient {
  const { outcome, recipient } = success;
  return {
    address: recipient.address,
    ...(recipient.orcpt ? { orcpt: recipient.orcpt } : {}),
    action: outcome.host ? "relayed" : "delivered",
    status: "2.0.0",
    ...(outcome.host
      ? { remote: { mta: outcome.host, code: 250, text: "2.0.0 Message accepted" } }
      : { diagnostic: "250 2.0.0 Delivered to the mailbox" }),
    lastAttempt: at,
  };
}

/** What one delay says in a warning. */
export function dsnDelay(delay: Delay, at: Date, willRetryUntil: Date): DsnRecipient {
  const { outcome, recipient } = delay;
  return {
    ...dsnRecipient({ recipient, outcome }, at),
    action: "delayed",
    status: outcome.enhanced.replace(/^5/, "4"),
    willRetryUntil,
  };
}

/** Creates the scheduler's `bounce` callback (failure, success and delay reports). */
export function createBouncer(
  options: BouncerOptions,
): (message: DueMessage, report: DsnBatch) => Promise<void> {
  return async (message, { failures, successes, delays }) => {
    const now = new Date(options.now());
    const id = options.newQueueId();
    const report = buildDsn({
      reportingMta: options.hostname,
      queueId: message.id,
      arrivalDate: new Date(message.receivedAt),
      originalSender: message.sender,
      ...(message.params.envid !== undefined ? { envid: message.params.envid } : {}),
      ret: message.params.ret ?? "HDRS",
      recipients: [
        ...failures.map((f) => dsnRecipient(f, now)),
        ...delays.map((d) =>
          dsnDelay(d, now, new Date(message.receivedAt + options.maxQueueLifetimeMs))
        ),
        ...successes.map((s) => dsnSuccess(s, now)),
      ],
      original: message.data,
      date: now,
      messageId: `<${id}.dsn@${options.hostname}>`,
    });
    await options.spool.put({
      id,
      sender: "",
      // deno-lint-ignore no-control-regex
      params: { smtputf8: /[^\x00-\x7f]/.test(message.sender), eightBit: report.eightBit },
      data: report.bytes,
      receivedAt: now.getTime(),
      isBounce: true,
      recipients: [{ address: message.sender, original: message.sender, notify: ["NEVER"] }],
    });
    options.log.event("bounce", {
      id: message.id,
      report: id,
      to: message.sender,
      failed: failures.length,
      delayed: delays.length,
      delivered: successes.length,
    });
    options.queued();
  };
}
