/**
 * The queue page's view of the spool listing: one state per message and
 * per recipient, as an operator thinks of them, and the page's filters.
 *
 * @module
 */
import type { QueueListing, RecipientStatus } from "./spool.ts";

/** A recipient's state as shown: `deferred` is queued after a failed attempt. */
export type RecipientState = "queued" | "deferred" | "delivering" | "delivered" | "failed";

/** A message's state as shown, most urgent first: held beats delivering beats deferred. */
export type MessageState = "held" | "delivering" | "deferred" | "queued" | "done";

/** The states the filter offers. */
export const MESSAGE_STATES: readonly MessageState[] = [
  "queued",
  "deferred",
  "delivering",
  "held",
];

/** The queue page's filters; empty strings count as absent. */
export interface QueueFilter {
  /** Part of the envelope sender, any case. */
  sender?: string;
  /** Part of any recipient address, any case. */
  recipient?: string;
  /** A recipient domain, exactly (any case). */
  domain?: string;
  /** One of {@linkcode MESSAGE_STATES}. */
  state?: string;
}

/** The shown state of one recipient. */
export function recipientState(
  recipient: Pick<RecipientStatus, "state" | "attempts">,
): RecipientState {
  if (recipient.state === "leased") return "delivering";
  if (recipient.state === "queued") return recipient.attempts > 0 ? "deferred" : "queued";
  return recipient.state;
}

/**
 * The shown state of one message, from its hold flag and its recipients.
 *
 * @example
 * ```ts
 * messageState({ held: false, recipients: [{ state: "queued", attempts: 2 }] }); // "deferred"
 * ```
 */
export function messageState(
  message: Pick<QueueListing, "held"> & {
    recipients: readonly Pick<RecipientStatus, "state" | "attempts">[];
  },
): MessageState {
  if (message.held) return "held";
  const states = message.recipients.map(recipientState);
  if (states.includes("delivering")) return "delivering";
  if (states.includes("deferred")) return "deferred";
  if (states.includes("queued")) return "queued";
  return "done";
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}

/**
 * The messages that pass every given filter, in the listing's order.
 *
 * @example
 * ```ts
 * filterQueue(spool.list(), { domain: "example.net", state: "deferred" });
 * ```
 */
export function filterQueue(
  messages: readonly QueueListing[],
  filter: QueueFilter,
): QueueListing[] {
  const sender = filter.sender?.trim().toLowerCase() ?? "";
  const recipient = filter.recipient?.trim().toLowerCase() ?? "";
  const domain = filter.domain?.trim().toLowerCase().replace(/^@/, "") ?? "";
  const state = filter.state?.trim() ?? "";
  return messages.filter((m) =>
    (sender === "" || m.sender.toLowerCase().includes(sender)) &&
    (recipient === "" || m.recipients.some((r) => r.address.toLowerCase().includes(recipient))) &&
    (domain === "" || m.recipients.some((r) => domainOf(r.address) === domain)) &&
    (state === "" || messageState(m) === state)
  );
}
