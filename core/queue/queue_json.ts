/**
 * The JSON shape of a queued message, shared by `postino queue list --json`
 * and the admin API's `GET /api/queue`: times as ISO 8601, the age in
 * seconds, and each recipient's state, attempts, next try and last error.
 *
 * @example
 * ```ts
 * queueListingJson(spool.listing(id)!, Date.now());
 * // { id, sender, size, receivedAt: "2024-…Z", ageSeconds: 42, held: false, recipients: [...] }
 * ```
 *
 * @module
 */
import { type MessageState, messageState } from "./queue_filter.ts";
import type { QueueListing } from "./spool.ts";

/** One recipient in {@linkcode QueueListingJson}. */
export interface RecipientJson {
  address: string;
  state: "queued" | "leased" | "delivered" | "failed";
  attempts: number;
  /** ISO 8601. */
  nextAttempt: string;
  lastError: string | null;
}

/** One queued message as JSON. */
export interface QueueListingJson {
  id: string;
  sender: string;
  size: number;
  /** ISO 8601. */
  receivedAt: string;
  ageSeconds: number;
  held: boolean;
  /** The message's one state, as the queue filters see it (held, delivering, deferred, …). */
  state: MessageState;
  recipients: RecipientJson[];
}

/** `message` as JSON, its age measured at `now` (ms since the epoch). */
export function queueListingJson(message: QueueListing, now: number): QueueListingJson {
  return {
    id: message.id,
    sender: message.sender,
    size: message.size,
    receivedAt: new Date(message.receivedAt).toISOString(),
    ageSeconds: Math.max(0, Math.round((now - message.receivedAt) / 1000)),
    held: message.held,
    state: messageState(message),
    recipients: message.recipients.map((r) => ({
      address: r.address,
      state: r.state,
      attempts: r.attempts,
      nextAttempt: new Date(r.nextAttempt).toISOString(),
      lastError: r.lastError ?? null,
    })),
  };
}
