/**
 * `spool`: the queue hook of the default chain. It expands aliases, commits
 * the message and its recipients to the spool, and only then lets the
 * client hear `250`. It also refuses new mail with 452 4.3.1 while the
 * spool is over its bound (backpressure).
 *
 * @module
 */
import { accept, tempfail } from "../core/hooks/decision.ts";
import type { DirectoryView } from "../core/hooks/host.ts";
import type { Plugin, Recipient } from "../core/hooks/plugin.ts";
import type { NewMessage, Spool, SpoolRecipient } from "../core/queue/spool.ts";

/** Options for {@linkcode spool}. */
export interface SpoolPluginOptions {
  spool: Pick<Spool, "put" | "count">;
  directory: DirectoryView;
  isLocalDomain(domain: string): boolean;
  /** Messages the spool may hold before MAIL gets 452 4.3.1. */
  maxQueued: number;
  /** Called after each commit so delivery starts at once. */
  queued(): void;
  /**
   * Hands new messages straight to a free delivery worker: stored already
   * leased, then delivered from memory, with no second read of the spool.
   */
  worker?: {
    reserve(): boolean;
    release(): void;
    deliverLeased(message: NewMessage): void;
    leaseMs: number;
  };
  now(): number;
}

/** The delivery addresses for one accepted RCPT, after alias expansion. */
export function expandRecipient(
  recipient: Recipient,
  options: Pick<SpoolPluginOptions, "directory" | "isLocalDomain">,
): SpoolRecipient[] {
  const original = recipient.mailbox.address;
  const dsn = {
    ...(recipient.params.notify ? { notify: recipient.params.notify } : {}),
    ...(recipient.params.orcpt ? { orcpt: recipient.params.orcpt } : {}),
  };
  if (!options.isLocalDomain(recipient.mailbox.domain)) {
    return [{ address: original, original, ...dsn }];
  }
  const where = options.directory.resolve(original);
  const targets = where ? [...where.mailboxes, ...where.remote] : [];
  return targets.map((address) => ({ address, original, ...dsn }));
}

function hasEightBit(data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if ((data[i] as number) > 127) return true;
  return false;
}

/** Creates the `spool` plugin. */
export function spool(options: SpoolPluginOptions): Plugin {
  return {
    name: "spool",
    mail() {
      if (options.spool.count() >= options.maxQueued) {
        return tempfail(452, "4.3.1", "Insufficient system storage, try again later");
      }
    },
    async queue(ctx, message) {
      const transaction = ctx.transaction;
      if (!transaction) return undefined;
      const seen = new Set<string>();
      const recipients = transaction.recipients.flatMap((r) => expandRecipient(r, options)).filter((
        r,
      ) => !seen.has(r.address) && seen.add(r.address));
      if (recipients.length === 0) return undefined;
      const data = message.toBytes();
      const { params } = transaction;
      const leased = options.worker?.reserve() === true;
      const entry: NewMessage = {
        id: transaction.id,
        sender: transaction.sender?.address ?? "",
        params: {
          smtputf8: params.smtputf8,
          eightBit: params.body === "8BITMIME" || hasEightBit(data),
          ...(params.ret ? { ret: params.ret } : {}),
          ...(params.envid !== undefined ? { envid: params.envid } : {}),
        },
        data,
        receivedAt: options.now(),
        isBounce: false,
        recipients,
      };
      try {
        await options.spool.put(
          entry,
          leased ? { leaseMs: options.worker?.leaseMs as number } : {},
        );
      } catch (error) {
        if (leased) options.worker?.release();
        ctx.log.warn("spool write failed", { error: String(error) });
        return tempfail(451, "4.3.1", "Insufficient system storage, try again later");
      }
      if (leased) options.worker?.deliverLeased(entry);
      else options.queued();
      return accept();
    },
  };
}
