/**
 * Reverse delivery for ATRN (RFC 2645 §4.2): after `250 OK now reversing
 * the connection`, the collecting client turns SMTP server on the same
 * (TLS) connection, and we deliver it every message queued for its domains
 * as an SMTP client, then QUIT.
 *
 * A {@linkcode Collection} holds an exclusive lease on each domain (so two
 * collectors never get the same message) and a lease on each recipient,
 * from `take()` until `deliver()` ends. Outcomes are
 * recorded in the spool as the scheduler records them: delivered ones are
 * done, refused ones bounce (RFC 3461 NOTIFY allowing), and the rest stay
 * queued for the next collection or retry.
 *
 * @example
 * ```ts
 * const collection = collector.take(["example.net"]);
 * if (collection.messages > 0) await collection.deliver(conn); // after the 250 went out
 * // else: 453 No messages waiting (the domains were given back already)
 * ```
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { DsnBatch, Failure, Success } from "../queue/scheduler.ts";
import { wantsFailureReport, wantsSuccessReport } from "../queue/scheduler.ts";
import type { DueMessage, Outcome, Spool } from "../queue/spool.ts";
import type { Conn } from "../runtime/conn.ts";
import { outboundMessage } from "./remote.ts";
import { type ClientTimeouts, SmtpClient, SmtpClientError } from "./smtp_client.ts";

/** Options for {@linkcode createCollector}. */
export interface CollectorOptions {
  spool: Pick<Spool, "leaseDomains" | "releaseDomains" | "record">;
  /** Our name in EHLO. */
  heloName: string;
  timeouts?: Partial<ClientTimeouts>;
  /** How long the domain and recipient leases last if the collector never finishes. */
  leaseMs: number;
  now(): number;
  /** When a recipient deferred after `attempts` attempts is due again. */
  retryAt(attempts: number, now: number): number;
  /** Deferred mail older than this fails as expired (RFC 3463 4.4.7), as in the scheduler. */
  maxAgeMs: number;
  /** Sends the sender a DSN for refused (and NOTIFY=SUCCESS) recipients. */
  bounce(message: DueMessage, report: DsnBatch): Promise<void>;
  log: Logger;
}

/** The mail leased for one ATRN. */
export interface Collection {
  /** The domains leased to this collection. */
  readonly domains: readonly string[];
  /** Requested domains another collector holds right now. */
  readonly busy: readonly string[];
  /** How many messages are waiting. */
  readonly messages: number;
  /**
   * Delivers everything over `conn` (we are the client), records the
   * outcomes and ends the leases. Never throws. With `messages > 0` it must
   * be called: until then the recipients stay leased.
   */
  deliver(conn: Conn): Promise<void>;
}

/** Takes collections of queued mail by domain. */
export interface Collector {
  take(domains: readonly string[]): Collection;
}

/** Creates a {@linkcode Collector} over the spool. */
export function createCollector(options: CollectorOptions): Collector {
  const { spool, log } = options;
  return {
    take(requested) {
      const lease = spool.leaseDomains(requested, options.now(), options.leaseMs);
      // Nothing to deliver: the domains are free again at once.
      if (lease.messages.length === 0) spool.releaseDomains(lease.domains);
      return {
        domains: lease.domains,
        busy: lease.busy,
        messages: lease.messages.length,
        async deliver(conn) {
          try {
            await deliverAll(options, lease.messages, conn);
          } catch (error) {
            log.event("atrn_error", { domains: lease.domains.join(","), error: String(error) });
          } finally {
            spool.releaseDomains(lease.domains);
          }
        },
      };
    },
  };
}

async function deliverAll(
  options: CollectorOptions,
  messages: readonly DueMessage[],
  conn: Conn,
): Promise<void> {
  let client: SmtpClient | undefined;
  let lost: { code: number; enhanced: string; text: string } | undefined;
  try {
    client = await SmtpClient.over(conn, {
      heloName: options.heloName,
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    });
  } catch (error) {
    lost = detail(error);
  }
  const host = client?.remoteGreeting.split(" ")[0] || "atrn";
  for (const message of messages) {
    let outcomes: Outcome[];
    if (!client?.isOpen) {
      const why = lost ?? { code: 421, enhanced: "4.4.2", text: "Connection lost" };
      outcomes = message.recipients.map((r) => ({
        address: r.address,
        status: "deferred",
        ...why,
      }));
    } else {
      try {
        const results = await client.send(outboundMessage(message, message.recipients));
        outcomes = results.map((r): Outcome =>
          r.status === "sent"
            ? {
              address: r.address,
              status: "delivered",
              host,
              tls: client?.tls !== undefined,
              tlsVersion: client?.tls?.version ?? "none",
              remoteDsn: client?.extensions.has("DSN") === true,
            }
            : {
              address: r.address,
              status: r.status,
              code: r.code,
              enhanced: r.enhanced,
              text: r.text,
              ...(r.remote ? { host } : {}),
            }
        );
      } catch (error) {
        lost = detail(error);
        client.close();
        outcomes = message.recipients.map((r) => ({
          address: r.address,
          status: "deferred",
          ...lost!,
        }));
      }
    }
    await finish(options, message, outcomes);
  }
  await client?.quit();
}

function detail(error: unknown): { code: number; enhanced: string; text: string } {
  if (error instanceof SmtpClientError) {
    // A 5xx greeting or EHLO only ends this collection: the mail stays for the next one.
    return error.code < 500
      ? { code: error.code, enhanced: error.enhanced, text: error.text }
      : { code: 451, enhanced: "4.4.0", text: error.text };
  }
  return { code: 451, enhanced: "4.4.2", text: String(error) };
}

/** Logs, bounces and records one message's outcomes, like the scheduler's `#process`. */
async function finish(
  options: CollectorOptions,
  message: DueMessage,
  raw: Outcome[],
): Promise<void> {
  const now = options.now();
  const expired = now - message.receivedAt >= options.maxAgeMs;
  const outcomes = raw.map((o): Outcome =>
    o.status === "deferred" && expired ? { ...o, status: "failed", dsnStatus: "4.4.7", expired } : o
  );
  const failures: Failure[] = [];
  const successes: Success[] = [];
  for (const outcome of outcomes) {
    const recipient = message.recipients.find((r) => r.address === outcome.address);
    if (!recipient) continue;
    options.log.event(outcome.status, {
      id: message.id,
      to: outcome.address,
      via: "atrn",
      ...(outcome.status === "delivered" ? { host: outcome.host, tls: outcome.tlsVersion } : {
        code: outcome.code,
        status: outcome.dsnStatus ?? outcome.enhanced,
        reason: outcome.text,
      }),
      delay: (now - message.receivedAt) / 1000,
    });
    if (outcome.status === "failed" && wantsFailureReport(recipient)) {
      failures.push({ recipient, outcome });
    }
    if (outcome.status === "delivered" && wantsSuccessReport(recipient, outcome)) {
      successes.push({ recipient, outcome });
    }
  }
  // RFC 3461 §6.2: never bounce a bounce, never to <>; queued before the outcome is recorded.
  if (failures.length + successes.length > 0 && message.sender !== "" && !message.isBounce) {
    await options.bounce(message, { failures, successes, delays: [] });
  }
  await options.spool.record(
    message.id,
    outcomes,
    now,
    (attempts) => options.retryAt(attempts, now),
  );
  const count = (status: Outcome["status"]) => outcomes.filter((o) => o.status === status).length;
  options.log.event("attempted", {
    id: message.id,
    via: "atrn",
    delivered: count("delivered"),
    deferred: count("deferred"),
    failed: count("failed"),
  });
}
