/**
 * The spool contract: durable storage of queued messages and of the state
 * of each recipient. SQLite is the embedded implementation
 * (`sqlite_spool.ts`); a networked backend can implement the same interface.
 *
 * @module
 */

/** MAIL parameters the spool keeps for delivery and DSNs. */
export interface SpoolParams {
  smtputf8: boolean;
  /** The message has 8-bit content (BODY=8BITMIME or raw 8-bit bytes). */
  eightBit: boolean;
  ret?: "FULL" | "HDRS";
  envid?: string;
}

/** One recipient as enqueued. */
export interface SpoolRecipient {
  /** Where to deliver (after alias expansion), `local@domain`. */
  address: string;
  /** The RCPT TO address this one came from (DSN Original-Recipient). */
  original: string;
  /** RFC 3461 NOTIFY; absent means the default (FAILURE). */
  notify?: string[];
  orcpt?: { type: string; address: string };
}

/** What {@linkcode Spool.put} takes. */
export interface NewMessage {
  id: string;
  /** Envelope sender; `""` is the null reverse-path. */
  sender: string;
  params: SpoolParams;
  data: Uint8Array;
  /** Milliseconds since the epoch. */
  receivedAt: number;
  /** A bounce we generated: it must never cause another bounce. */
  isBounce: boolean;
  recipients: SpoolRecipient[];
}

/** A recipient that is due, with its history so far. */
export interface DueRecipient extends SpoolRecipient {
  attempts: number;
}

/** A message leased for delivery, with its due recipients. */
export interface DueMessage extends Omit<NewMessage, "recipients"> {
  recipients: DueRecipient[];
  /** A delay warning was already sent for this message. */
  warned: boolean;
}

/** A recipient that was delivered. */
export interface DeliveredOutcome {
  address: string;
  status: "delivered";
  host?: string;
  tls?: boolean;
  /** The negotiated TLS version (`TLSv1.3`), or `none` when sent in plaintext. */
  tlsVersion?: string;
  /** The next hop speaks DSN (RFC 3461), so NOTIFY went along with the message. */
  remoteDsn?: boolean;
}

/** A recipient that was not delivered: to retry (`deferred`) or for good (`failed`). */
export interface UndeliveredOutcome {
  address: string;
  status: "deferred" | "failed";
  code: number;
  enhanced: string;
  text: string;
  /** The remote host that answered, if any (DSN Remote-MTA). */
  host?: string;
  /** The DSN Status when it differs from `enhanced` (4.4.7 for an expired message). */
  dsnStatus?: string;
  /** Failed because the message waited longer than the queue lifetime. */
  expired?: boolean;
}

/** The result of one delivery attempt for one recipient. */
export type Outcome = DeliveredOutcome | UndeliveredOutcome;

/** One recipient's state, for `postino queue list`. */
export interface RecipientStatus {
  address: string;
  state: "queued" | "leased" | "delivered" | "failed";
  attempts: number;
  nextAttempt: number;
  lastError: string | undefined;
}

/** One queued message, for `postino queue list`. */
export interface QueueListing {
  id: string;
  sender: string;
  size: number;
  receivedAt: number;
  held: boolean;
  recipients: RecipientStatus[];
}

/** A stored message's standing: deliverable, on hold, or no longer stored. */
export type Presence = "ready" | "held" | "gone";

/** What {@linkcode Spool.leaseDomains} got. */
export interface DomainLease {
  /** The domains now leased to the caller, lower-cased. */
  domains: string[];
  /** Requested domains another collector holds. */
  busy: string[];
  /** Messages with the caller's recipients at those domains, leased. */
  messages: DueMessage[];
}

/** The durable queue. */
export interface Spool {
  /**
   * Stores a message; resolves only once it is durable (fsynced). With
   * `leaseMs`, its recipients are stored already leased to the caller, who
   * delivers it at once from memory (no second read of the spool).
   */
  put(message: NewMessage, options?: { leaseMs?: number }): Promise<void>;
  /**
   * Leases up to `limit` messages with recipients due at `now`, for
   * `leaseMs`. Held messages are skipped.
   */
  lease(now: number, limit: number, leaseMs: number): DueMessage[];
  /**
   * Takes an exclusive lease on each domain no one else holds (ATRN, RFC
   * 2645: two collectors never get the same mail) and leases every queued
   * recipient at those domains, due or not; held messages are skipped.
   * Give the domains back with {@linkcode releaseDomains}; a lease also
   * ends by itself after `leaseMs` (a crashed collector).
   */
  leaseDomains(domains: readonly string[], now: number, leaseMs: number): DomainLease;
  /** Ends domain leases taken with {@linkcode leaseDomains}. */
  releaseDomains(domains: readonly string[]): void;
  /**
   * Records outcomes for a leased message. Deferred recipients become due
   * again at `retryAt(attempts)`; when no recipient is left to try, the
   * message is removed. Resolves once committed; unlike `put()`, it may be
   * lost with power, which only means a redelivery.
   */
  record(
    id: string,
    outcomes: Outcome[],
    now: number,
    retryAt: (attempts: number) => number,
  ): Promise<void>;
  /** Notes that the sender got a delay warning for this message. Resolves once durable. */
  markWarned(id: string): Promise<void>;
  /** Returns leases left by a crashed run to the queue. Returns how many. */
  recover(): number;
  /** When the next recipient is due, or `undefined` if nothing waits. */
  nextDue(): number | undefined;
  list(): QueueListing[];
  /** Makes messages due now: one id, the recipients of one domain, or all. */
  flush(selector?: { id?: string; domain?: string }): number;
  hold(id: string, held: boolean): boolean;
  remove(id: string): boolean;
  /**
   * Whether a message is still stored and not held: the scheduler asks
   * before it delivers a leased message and before it records the outcome,
   * so a message held or removed meanwhile (admin API, CLI) is left alone.
   */
  presence(id: string): Presence;
  /** Gives a held message's leased recipients back to the queue, attempts unchanged. */
  unlease(id: string): void;
  /** Number of messages stored. */
  count(): number;
}
