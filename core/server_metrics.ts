/**
 * Postino's metrics: counters fed by the mail-event bus (every `log.event`
 * line is also an event), a histogram of plugin hook timings fed by the
 * hook runner, and gauges read at scrape time (live sessions, queue depth).
 * One instance lives as long as the process, so reloads keep the counts.
 *
 * Label values are bounded: stages and routes come from our own code,
 * reply codes are three digits, plugin and hook names come from the config.
 * Every family is capped anyway (see `core/metrics.ts`).
 *
 * @example
 * ```ts
 * const metrics = new ServerMetrics({ version: "1.0", runtime: "deno" });
 * metrics.observe(bus);
 * const runner = new HookRunner(plugins, { timeoutMs, log, timing: metrics.hookTiming });
 * const text = metrics.scrape({ connections: 2, queue, now: Date.now() });
 * ```
 *
 * @module
 */
import type { EventBus, MailEvent } from "./events.ts";
import { type Counter, type Gauge, type Histogram, Registry } from "./metrics.ts";

/** What {@linkcode ServerMetrics.scrape} reads from the live server. */
export interface ScrapeSample {
  /** SMTP sessions open now. */
  connections: number;
  queue: { messages: number; held: number; oldestReceivedAt: number | undefined };
  /** Milliseconds since the epoch. */
  now: number;
}

/** Cumulative counts since start, for `GET /api/stats`. */
export interface Totals {
  connections: number;
  accepted: number;
  rejected: number;
  delivered: number;
  deferred: number;
  bounced: number;
}

/** Options for {@linkcode ServerMetrics}. */
export interface ServerMetricsOptions {
  version: string;
  runtime: string;
  /** The commit the build came from (`postino version`); "unknown" by default. */
  commit?: string;
  /** When the process started, ms since the epoch (default: now). */
  startedAt?: number;
}

/** Seconds, from 10 ms to a day: local delivery is quick, retries take hours. */
const DELIVERY_BUCKETS = [
  0.01,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
  14_400,
  86_400,
];
/** Seconds, from 100 µs to the default 30 s hook timeout. */
const HOOK_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];

/** A route name as a metric label: the SMTP deliverer is "remote". */
function routeLabel(via: unknown): string {
  if (via === undefined || via === "smtp") return "remote";
  return String(via);
}

/** A reply code as a label: three digits, or "none". */
function codeLabel(code: unknown): string {
  const text = String(code ?? "");
  return /^[2-5]\d\d$/.test(text) ? text : "none";
}

/** The delivery outcome events, as the `result` label. */
const RESULTS: Record<string, string> = {
  delivered: "delivered",
  deferred: "deferred",
  failed: "bounced",
};

/** The metric families of a running server. */
export class ServerMetrics {
  readonly registry: Registry = new Registry();
  #startedAt: number;
  #connections: Counter;
  #sessions: Counter;
  #tlsFailures: Counter;
  #accepted: Counter;
  #rejects: Counter;
  #auth: Counter;
  #deliveries: Counter;
  #delay: Histogram;
  #outbound: Counter;
  #dsn: Counter;
  #pluginErrors: Counter;
  #hooks: Histogram;
  #live: Gauge;
  #queue: Gauge;
  #held: Gauge;
  #oldest: Gauge;
  #start: Gauge;

  constructor(options: ServerMetricsOptions) {
    const r = this.registry;
    this.#startedAt = options.startedAt ?? Date.now();
    r.gauge("postino_build_info", "Always 1; the labels name the build.", [
      "version",
      "revision",
      "runtime",
    ]).set({
      version: options.version,
      revision: options.commit ?? "unknown",
      runtime: options.runtime,
    }, 1);
    this.#start = r.gauge("postino_start_time_seconds", "When the server started (Unix time).");
    this.#connections = r.counter(
      "postino_smtp_connections_total",
      "SMTP connections accepted (refused ones are counted in postino_smtp_rejects_total).",
    );
    this.#live = r.gauge("postino_smtp_connections", "SMTP sessions open now.");
    this.#sessions = r.counter(
      "postino_smtp_sessions_total",
      "Finished SMTP sessions by TLS use: starttls, implicit or none.",
      ["tls"],
    );
    this.#tlsFailures = r.counter(
      "postino_smtp_tls_failures_total",
      "STARTTLS handshakes that failed.",
    );
    this.#accepted = r.counter(
      "postino_messages_accepted_total",
      "Messages accepted with a 2xx reply to DATA or BDAT LAST.",
    );
    this.#rejects = r.counter(
      "postino_smtp_rejects_total",
      "Refusals by stage (connect, helo, mail, rcpt, data, queue, …) and reply code.",
      ["stage", "code"],
    );
    this.#auth = r.counter(
      "postino_smtp_auth_total",
      "AUTH attempts by result (success, failure).",
      ["result"],
    );
    this.#deliveries = r.counter(
      "postino_deliveries_total",
      "Delivery attempts per recipient by result (delivered, deferred, bounced) " +
        "and route (local, remote, atrn, or a gateway).",
      ["result", "route"],
    );
    this.#delay = r.histogram(
      "postino_delivery_delay_seconds",
      "Time from receipt to delivery, per delivered recipient.",
      ["route"],
      DELIVERY_BUCKETS,
    );
    this.#outbound = r.counter(
      "postino_outbound_sessions_total",
      "Outbound SMTP sessions (one per next hop that answered), by TLS version or none.",
      ["tls"],
    );
    this.#dsn = r.counter(
      "postino_dsn_queued_total",
      "Delivery status notifications (bounces, delay and success reports) queued.",
    );
    this.#pluginErrors = r.counter(
      "postino_plugin_errors_total",
      "Plugin hooks that threw, timed out or returned nonsense (failed closed).",
      ["plugin", "hook"],
    );
    this.#hooks = r.histogram(
      "postino_plugin_hook_duration_seconds",
      "Time spent in each plugin hook.",
      ["plugin", "hook"],
      HOOK_BUCKETS,
    );
    // Known label sets start at 0, so rate() sees the first increase.
    for (const tls of ["starttls", "implicit", "none"]) this.#sessions.inc({ tls }, 0);
    for (const result of ["success", "failure"]) this.#auth.inc({ result }, 0);
    for (const result of Object.values(RESULTS)) {
      for (const route of ["local", "remote"]) this.#deliveries.inc({ result, route }, 0);
    }
    this.#queue = r.gauge("postino_queue_messages", "Messages in the outgoing queue.");
    this.#held = r.gauge("postino_queue_held_messages", "Queued messages on hold.");
    this.#oldest = r.gauge(
      "postino_queue_oldest_message_age_seconds",
      "Age of the oldest queued message (0 when the queue is empty).",
    );
  }

  /** Counts the events of `bus` from now on; returns the unsubscribe function. */
  observe(bus: EventBus): () => void {
    return bus.subscribe((event) => this.count(event));
  }

  /** Counts one mail event. */
  count(event: MailEvent): void {
    const f = event.fields;
    switch (event.name) {
      case "connect":
        return this.#connections.inc();
      case "disconnect":
        return this.#sessions.inc({ tls: String(f["tls"] ?? "none") });
      case "tls_failed":
        return this.#tlsFailures.inc();
      case "queued":
        return this.#accepted.inc();
      case "reject":
        return this.#rejects.inc({
          stage: String(f["stage"] ?? "unknown"),
          code: codeLabel(f["code"]),
        });
      case "auth":
        return this.#auth.inc({ result: "success" });
      case "auth_failed":
        return this.#auth.inc({ result: "failure" });
      case "smtp_session":
        return this.#outbound.inc({ tls: String(f["tls"] ?? "none") });
      case "bounce":
        return this.#dsn.inc();
      case "plugin_error":
        return this.#pluginErrors.inc({
          plugin: String(f["plugin"] ?? ""),
          hook: String(f["hook"] ?? ""),
        });
      case "delivered":
      case "deferred":
      case "failed": {
        const route = routeLabel(f["via"]);
        this.#deliveries.inc({ result: RESULTS[event.name] as string, route });
        const delay = f["delay"];
        if (event.name === "delivered" && typeof delay === "number") {
          this.#delay.observe({ route }, delay);
        }
        return;
      }
    }
  }

  /**
   * Records one plugin hook call (for `HookRunner`'s `timing` option). An
   * arrow function, so it can be handed over as it is.
   */
  readonly hookTiming = (plugin: string, hook: string, seconds: number): void => {
    this.#hooks.observe({ plugin, hook }, seconds);
  };

  /** Totals since start, for the stats endpoint. */
  totals(): Totals {
    return {
      connections: this.#connections.total(),
      accepted: this.#accepted.total(),
      rejected: this.#rejects.total(),
      delivered: this.#deliveriesBy("delivered"),
      deferred: this.#deliveriesBy("deferred"),
      bounced: this.#deliveriesBy("bounced"),
    };
  }

  #deliveriesBy(result: string): number {
    return this.#deliveries.total({ result });
  }

  /** The exposition text, with the scrape-time gauges set from `sample`. */
  scrape(sample: ScrapeSample): string {
    this.#start.set(undefined, Math.floor(this.#startedAt / 1000));
    this.#live.set(undefined, sample.connections);
    this.#queue.set(undefined, sample.queue.messages);
    this.#held.set(undefined, sample.queue.held);
    const oldest = sample.queue.oldestReceivedAt;
    this.#oldest.set(
      undefined,
      oldest === undefined ? 0 : Math.max(0, (sample.now - oldest) / 1000),
    );
    return this.registry.render();
  }
}
