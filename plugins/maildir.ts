/**
 * `maildir`: the queue hook that writes one durable Maildir copy per local
 * mailbox before the client hears 250. Adds `Return-Path:` and
 * `Delivered-To:` at final delivery (RFC 5321 §4.4).
 *
 * @module
 */
import type { MaildirWriter } from "../core/delivery/maildir.ts";
import { accept } from "../core/hooks/decision.ts";
import type { DirectoryView } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import { concatBytes } from "../core/smtp/message.ts";

/** Options for {@linkcode maildir}. */
export interface MaildirOptions {
  directory: DirectoryView;
  writer: Pick<MaildirWriter, "deliver">;
}

const encoder = new TextEncoder();

/** Creates the `maildir` plugin. */
export function maildir(options: MaildirOptions): Plugin {
  return {
    name: "maildir",
    async queue(ctx, message) {
      const transaction = ctx.transaction;
      if (!transaction) return undefined;
      const mailboxes = new Set<string>();
      for (const recipient of transaction.recipients) {
        const where = options.directory.resolve(recipient.mailbox.address);
        for (const mailbox of where?.mailboxes ?? []) mailboxes.add(mailbox);
        if (!where || where.mailboxes.length === 0) {
          ctx.log.warn("recipient has no mailbox any more", { rcpt: recipient.mailbox.address });
        }
      }
      if (mailboxes.size === 0) return undefined;
      const body = message.toBytes();
      const sender = transaction.sender?.address ?? "";
      await Promise.all([...mailboxes].map((mailbox) => {
        const trace = encoder.encode(`Return-Path: <${sender}>\r\nDelivered-To: ${mailbox}\r\n`);
        return options.writer.deliver(mailbox, transaction.id, concatBytes([trace, body]));
      }));
      ctx.log.info("delivered", { id: transaction.id, mailboxes: mailboxes.size });
      return accept();
    },
  };
}
