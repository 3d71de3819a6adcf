/**
 * The delivery scheduler: leases due messages from the spool, routes each
 * recipient, hands groups to deliverers (local Maildir, remote SMTP, a
 * gateway), records the outcomes, and raises bounces for recipients that
 * failed for good or expired. Time comes from an injectable clock.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { retryDelay, type RetryPolicy } from "./backoff.ts";
import type { Clock } from "./clock.ts";
import type {
  DeliveredOutcome,
  DueMessage,
  DueRecipient,
  NewMessage,
  Outcome,
  Spool,
  UndeliveredOutcome,
} from "./spool.ts";

/** Where one recipient goes; `key` groups recipients delivered together. */
export interface Route {
  /** The deliverer's name: "local", "smtp", or a gateway plugin's. */
  via: string;
  /** Recipients with the same `via` and `key` share one delivery (e.g. one domain). */
  key: string;
}

/** Delivers one message to a group of recipients with the same route. */
export interface Deliverer {
  deliver(message: DueMessage, recipients: DueRecipient[], route: Route): Promise<Outcome[]>;
}

/** A recipient that failed for good, with why. */
export interface Failure {
  recipient: DueRecipient;
  outcome: UndeliveredOutcome;
}

/** Options for {@linkcode Scheduler}. */
export interface SchedulerOptions {
  spool: Spool;
  clock: Clock;
  retry: RetryPolicy;
  /** Messages delivered at the same time. */
  concurrency: number;
  /** How long a lease lasts before another worker may take the message. */
  leaseMs: number;
  /** How often to look at the spool even when nothing is due (CLI flushes). */
  pollMs: number;
  /** Picks each recipient's route; a route that throws defers the recipient. */
  route(message: DueMessage, recipient: DueRecipient): Route | Promise<Route>;
  /** The deliverer for a route name (`local`, `smtp`, a gateway). */
  deliverer(via: string): Deliverer | undefined;
  /** Sees every outcome after it is final for this attempt (outbound hooks). */
  observe?(message: DueMessage, outcomes: readonly Outcome[]): void;
  /**
   * Sends one DSN for failed recipients, delivered ones that asked for
   * NOTIFY=SUCCESS, and delayed ones when a delay warning is due (never
   * called for bounces or `<>`).
   */
  bounce(message: DueMessage, report: DsnBatch): Promise<void>;
  /** Warn the sender once when a message is still queued after this long (0: never). */
  delayWarningMs?: number;
  log: Logger;
  random?: () => number;
}

/** A recipient that is still being retried, for a delay warning. */
export interface Delay {
  recipient: DueRecipient;
  outcome: UndeliveredOutcome;
}

/** What one DSN reports. */
export interface DsnBatch {
  failures: Failure[];
  successes: Success[];
  delays: Delay[];
}

/** Whether RFC 3461 NOTIFY allows a delay warning (the default does). */
export function wantsDelayReport(recipient: DueRecipient): boolean {
  return recipient.notify === undefined || recipient.notify.includes("DELAY");
}

/** A delivered recipient whose sender asked for a success report. */
export interface Success {
  recipient: DueRecipient;
  outcome: DeliveredOutcome;
}

/** Whether RFC 3461 NOTIFY asks for a success report. */
export function wantsSuccessReport(recipient: DueRecipient, outcome: DeliveredOutcome): boolean {
  // When the next hop speaks DSN, NOTIFY went along and the report is its job.
  return recipient.notify?.includes("SUCCESS") === true && outcome.remoteDsn !== true;
}

/** Whether RFC 3461 NOTIFY asks for a failure report (the default does). */
export function wantsFailureReport(recipient: DueRecipient): boolean {
  return recipient.notify === undefined || recipient.notify.includes("FAILURE");
}

/** Runs deliveries until stopped. */
export class Scheduler {
  #options: SchedulerOptions;
  #running = new Set<Promise<void>>();
  #reserved = 0;
  #timer: unknown;
  #stopped = true;
  #ticking = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
  }

  /** Starts working; leases a crashed run left behind come back first. */
  start(): void {
    const recovered = this.#options.spool.recover();
    if (recovered > 0) this.#options.log.event("spool_recovered", { recipients: recovered });
    this.#stopped = false;
    this.wake();
  }

  /**
   * Stops leasing and waits for deliveries in progress, at most `graceMs`.
   * A delivery still running then keeps its lease, and the next start's
   * recover() queues it again: shutdown never hangs on a slow remote.
   */
  async stop(graceMs = Infinity): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.cancel(this.#timer);
    this.#timer = undefined;
    if (this.#running.size > 0) {
      this.#options.log.event("delivery_draining", {
        running: this.#running.size,
        grace_ms: Number.isFinite(graceMs) ? graceMs : undefined,
      });
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = Number.isFinite(graceMs)
      ? new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs))
      : new Promise<void>(() => {});
    await Promise.race([Promise.all(this.#running), grace]);
    clearTimeout(timer);
    if (this.#running.size > 0) {
      this.#options.log.event("delivery_abandoned", {
        running: this.#running.size,
        reason: "shutdown",
      });
    }
  }

  /** Looks for due work now (a message was just queued). */
  wake(): void {
    if (this.#stopped || this.#ticking) return;
    this.#ticking = true;
    queueMicrotask(() => {
      this.#ticking = false;
      this.#tick();
    });
  }

  /**
   * Claims a worker for a message that is about to be stored already leased
   * (see {@linkcode Spool.put}); false when every worker is busy, and then
   * the message waits in the queue as usual.
   */
  reserve(): boolean {
    if (this.#stopped || this.#running.size + this.#reserved >= this.#options.concurrency) {
      return false;
    }
    this.#reserved++;
    return true;
  }

  /** Gives back a reservation whose message could not be stored. */
  release(): void {
    this.#reserved = Math.max(0, this.#reserved - 1);
  }

  /** Delivers a message stored leased under a reservation, straight from memory. */
  deliverLeased(message: NewMessage): void {
    this.release();
    // Stopping: leave it leased; the next start's recover() queues it again.
    if (this.#stopped) return;
    this.#start({
      ...message,
      warned: false,
      recipients: message.recipients.map((r) => ({ ...r, attempts: 0 })),
    });
  }

  /** Delivers everything due now and waits for it (tests). */
  async drain(): Promise<void> {
    for (;;) {
      this.#fill();
      if (this.#running.size === 0) return;
      await Promise.race(this.#running);
    }
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#fill();
    this.#arm();
  }

  /** Leases as many messages as there are free workers. */
  #fill(): void {
    const { spool, clock, concurrency, leaseMs } = this.#options;
    const free = concurrency - this.#running.size - this.#reserved;
    if (free <= 0) return;
    for (const message of spool.lease(clock.now(), free, leaseMs)) this.#start(message);
  }

  #start(message: DueMessage): void {
    const job = this.#process(message).catch((error) => {
      this.#options.log.event("delivery_error", { id: message.id, error: String(error) });
    }).finally(() => {
      this.#running.delete(job);
      if (!this.#stopped) this.#tick();
    });
    this.#running.add(job);
  }

  /** Sets the timer for the next due item (or the next poll). */
  #arm(): void {
    const { clock, spool, pollMs } = this.#options;
    if (this.#timer !== undefined) clock.cancel(this.#timer);
    const next = spool.nextDue();
    const wait = next === undefined ? pollMs : Math.min(pollMs, Math.max(0, next - clock.now()));
    this.#timer = clock.after(wait, () => {
      this.#timer = undefined;
      this.#tick();
    });
  }

  /** One deliverer call; a deliverer that throws defers its recipients. */
  async #deliverGroup(
    message: DueMessage,
    recipients: DueRecipient[],
    route: Route,
  ): Promise<Outcome[]> {
    const deliverer = this.#options.deliverer(route.via);
    try {
      if (!deliverer) throw new Error(`no deliverer "${route.via}"`);
      return await deliverer.deliver(message, recipients, route);
    } catch (error) {
      this.#options.log.event("delivery_error", {
        id: message.id,
        via: route.via,
        error: String(error),
      });
      return recipients.map((r): Outcome => ({
        address: r.address,
        status: "deferred",
        code: 451,
        enhanced: "4.3.0",
        text: "Local delivery error",
      }));
    }
  }

  async #process(message: DueMessage): Promise<void> {
    const { clock, log, retry, spool } = this.#options;
    // Held or removed (admin API, CLI) after the lease was taken: leave it be.
    const presence = spool.presence(message.id);
    if (presence !== "ready") {
      if (presence === "held") spool.unlease(message.id);
      log.event("delivery_skipped", { id: message.id, reason: presence });
      return;
    }
    const groups = new Map<string, { route: Route; recipients: DueRecipient[] }>();
    for (const recipient of message.recipients) {
      let route: Route;
      try {
        route = await this.#options.route(message, recipient);
      } catch (error) {
        log.event("route_error", { id: message.id, to: recipient.address, error: String(error) });
        route = { via: "", key: "" }; // no deliverer: deferred below, fail closed
      }
      const key = `${route.via}\u0000${route.key}`;
      const group = groups.get(key) ?? { route, recipients: [] };
      group.recipients.push(recipient);
      groups.set(key, group);
    }
    // Each group's outcomes are final (and logged) as soon as that group is
    // done, so a slow remote never hides a finished local delivery.
    const final = (await Promise.all([...groups.values()].map(async ({ route, recipients }) => {
      const outcomes = await this.#deliverGroup(message, recipients, route);
      const expired = clock.now() - message.receivedAt >= retry.maxAgeMs;
      return outcomes.map((o): Outcome => {
        const result: Outcome = o.status === "deferred" && expired
          ? {
            ...o,
            status: "failed",
            // The report says 4.4.7 (RFC 3463: delivery time expired) and still
            // quotes the remote's own last reply as the Diagnostic-Code.
            dsnStatus: "4.4.7",
            expired: true,
          }
          : o;
        log.event(result.status, {
          id: message.id,
          to: result.address,
          ...(result.status === "delivered"
            ? {
              host: result.host,
              tls: result.tlsVersion ??
                (result.tls === undefined ? undefined : (result.tls ? "yes" : "none")),
            }
            : {
              code: result.code,
              status: result.dsnStatus ?? result.enhanced,
              host: result.host,
              reason: result.expired ? `expired; last error: ${result.text}` : result.text,
            }),
          via: route.via,
          // Seconds since receipt (Postfix's delay=): the metrics' latency histogram.
          delay: (clock.now() - message.receivedAt) / 1000,
        });
        return result;
      });
    }))).flat();
    const now = clock.now();
    const failures: Failure[] = [];
    const successes: Success[] = [];
    const delays: Delay[] = [];
    const warnAfter = this.#options.delayWarningMs ?? 0;
    const warnNow = warnAfter > 0 && !message.warned && now - message.receivedAt >= warnAfter;
    for (const outcome of final) {
      const recipient = message.recipients.find((r) => r.address === outcome.address);
      if (!recipient) continue;
      if (outcome.status === "failed" && wantsFailureReport(recipient)) {
        failures.push({ recipient, outcome });
      }
      if (outcome.status === "delivered" && wantsSuccessReport(recipient, outcome)) {
        successes.push({ recipient, outcome });
      }
      if (outcome.status === "deferred" && warnNow && wantsDelayReport(recipient)) {
        delays.push({ recipient, outcome });
      }
    }
    // Removed while the delivery ran: what went out went out, but nothing is
    // bounced or recorded for a message the admin deleted.
    if (spool.presence(message.id) === "gone") {
      log.event("attempted", { id: message.id, removed: true, ...counts(final) });
      return;
    }
    // RFC 3461 §6.2 and RFC 5321 §4.5.5: never bounce a bounce, never bounce to <>.
    // The bounce is queued before the outcome is recorded: after a crash in
    // between, the sender may get the report twice, but never not at all.
    if (
      failures.length + successes.length + delays.length > 0 && message.sender !== "" &&
      !message.isBounce
    ) {
      await this.#options.bounce(message, { failures, successes, delays });
      if (delays.length > 0) await this.#options.spool.markWarned(message.id);
    }
    const random = this.#options.random ?? Math.random;
    await this.#options.spool.record(
      message.id,
      final,
      now,
      (attempts) => now + retryDelay(attempts, retry, random),
    );
    this.#options.observe?.(message, final);
    // One line per finished attempt on a message: tests and log readers wait for it.
    log.event("attempted", { id: message.id, ...counts(final) });
  }
}

/** How many outcomes of each status, for the `attempted` line. */
function counts(outcomes: readonly Outcome[]): Record<Outcome["status"], number> {
  const count = (status: Outcome["status"]) => outcomes.filter((o) => o.status === status).length;
  return { delivered: count("delivered"), deferred: count("deferred"), failed: count("failed") };
}
