/**
 * The local deliverer: writes each recipient's copy into its Maildir, with
 * `Return-Path:` and `Delivered-To:` added at final delivery
 * (RFC 5321 §4.4). Fed by the scheduler from the spool.
 *
 * @module
 */
import type { Deliverer } from "../queue/scheduler.ts";
import type { Outcome } from "../queue/spool.ts";
import { concatBytes } from "../smtp/message.ts";
import type { MaildirWriter } from "./maildir.ts";

/** Options for {@linkcode localDeliverer}. */
export interface LocalOptions {
  writer: Pick<MaildirWriter, "deliver">;
  /** Whether a mailbox exists (users, and postmaster of local domains). */
  hasMailbox(address: string): boolean;
}

const encoder = new TextEncoder();

/** Creates the deliverer for route `local`. */
export function localDeliverer(options: LocalOptions): Deliverer {
  return {
    deliver(message, recipients) {
      return Promise.all(recipients.map(async (recipient): Promise<Outcome> => {
        if (!options.hasMailbox(recipient.address)) {
          // The user went away after we accepted the message.
          return {
            address: recipient.address,
            status: "failed",
            code: 550,
            enhanced: "5.1.1",
            text: "Mailbox does not exist",
          };
        }
        const trace = encoder.encode(
          `Return-Path: <${message.sender}>\r\nDelivered-To: ${recipient.address}\r\n`,
        );
        try {
          await options.writer.deliver(
            recipient.address,
            message.id,
            concatBytes([trace, message.data]),
          );
          return { address: recipient.address, status: "delivered" };
        } catch (error) {
          return {
            address: recipient.address,
            status: "deferred",
            code: 451,
            enhanced: "4.3.0",
            text: `Mailbox write failed: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
          };
        }
      }));
    },
  };
}
