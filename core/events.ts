/**
 * The mail-event bus: every event the logger writes (connect, queued,
 * attempted, reject, …) is also published here, so the admin API can stream
 * it (Server-Sent Events) and the metrics can count it. Events flow one way,
 * from the core to the observers; an observer that throws is dropped from
 * that event only and never reaches the sender.
 *
 * @example
 * ```ts
 * const bus = new EventBus();
 * const log = observeLogger(createLogger({ verbose: false }), bus);
 * const stop = bus.subscribe((e) => console.log(e.name, e.fields));
 * log.event("queued", { id: "abc" }); // printed, and seen by the subscriber
 * stop();
 * ```
 *
 * @module
 */
import type { LogFields, Logger } from "./log.ts";

/** One published event. */
export interface MailEvent {
  /** Increasing per bus, from 1: lets a client resume (SSE `Last-Event-ID`). */
  readonly seq: number;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly name: string;
  readonly fields: Readonly<LogFields>;
}

/** Called for each event; must not block. */
export type EventObserver = (event: MailEvent) => void;

/** Options for {@linkcode EventBus}. */
export interface EventBusOptions {
  /** How many recent events to keep for new subscribers (default 500). */
  keep?: number;
  now?: () => number;
}

/** Fan-out of mail events, with a bounded ring of recent ones. */
export class EventBus {
  #observers = new Set<EventObserver>();
  #recent: MailEvent[] = [];
  #keep: number;
  #now: () => number;
  #seq = 0;

  constructor(options: EventBusOptions = {}) {
    this.#keep = options.keep ?? 500;
    this.#now = options.now ?? Date.now;
  }

  /** Publishes one event to every observer. */
  publish(name: string, fields: LogFields): void {
    const event: MailEvent = { seq: ++this.#seq, time: this.#now(), name, fields };
    this.#recent.push(event);
    if (this.#recent.length > this.#keep) this.#recent.splice(0, this.#recent.length - this.#keep);
    for (const observer of [...this.#observers]) {
      try {
        observer(event);
      } catch {
        // An observer's bug must never reach the session that logged the event.
      }
    }
  }

  /** Adds an observer; returns the function that removes it. */
  subscribe(observer: EventObserver): () => void {
    const entry: EventObserver = (event) => observer(event);
    this.#observers.add(entry);
    return () => void this.#observers.delete(entry);
  }

  /** The kept events with `seq` above `after` (all kept ones by default), oldest first. */
  recent(after = 0): MailEvent[] {
    return this.#recent.filter((event) => event.seq > after);
  }

  /** How many observers are attached (for tests and health). */
  get observers(): number {
    return this.#observers.size;
  }
}

/** A logger that writes through `log` and also publishes each event on `bus`. */
export function observeLogger(log: Logger, bus: EventBus): Logger {
  return {
    get tracing() {
      return log.tracing;
    },
    event(name, fields) {
      log.event(name, fields);
      bus.publish(name, fields);
    },
    trace(conn, direction, line) {
      log.trace(conn, direction, line);
    },
  };
}
