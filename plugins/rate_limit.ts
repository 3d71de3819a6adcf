/**
 * `rate_limit`: per-client-address rates, on by default (first in the
 * default chain). A client address that opens more than
 * `connections_per_minute` connections gets `421 4.7.0` instead of the
 * greeting; one that starts more than `messages_per_minute` transactions
 * gets `452 4.7.0 Too many messages, slow down` at MAIL (RFC 5321 §4.2.5
 * lets a client retry a 4yz later; RFC 3463 §3.8: X.7.0 is a policy reason).
 *
 * The window slides: the count of the previous minute is weighed by how
 * much of it still overlaps the last 60 seconds, so a burst at a minute's
 * edge cannot double the rate. Memory is bounded: at most `max_tracked`
 * addresses are remembered, and the one seen longest ago is forgotten first.
 *
 * The defaults (600 connections and 600 messages a minute per address, ten
 * a second) only stop floods: Postfix's anvil has no default limit, and
 * busy legitimate senders (a mailing list host, a smart host, our own test
 * suite on loopback) stay far below them. Nothing is exempt by default, not
 * even loopback; list trusted networks in `exempt`. The counts live in the
 * process and start over on reload. Each IPv6 address counts alone.
 *
 * The `[plugin.rate_limit]` table is read only when `rate_limit` is listed
 * in `plugins` (as for every plugin); unlisted, it runs with the defaults.
 * Listing it also sets its place in the chain.
 *
 * ```toml
 * plugins = ["rate_limit"]
 * [plugin.rate_limit]
 * connections_per_minute = 60   # 0: no limit
 * messages_per_minute = 120     # 0: no limit
 * exempt = ["10.0.0.0/8"]       # optional
 * max_tracked = 10000           # optional: addresses remembered
 * ```
 *
 * @module
 */
import { isCidr } from "../core/config.ts";
import { disconnect, tempfail } from "../core/hooks/decision.ts";
import type { PluginHost } from "../core/hooks/host.ts";
import type { Plugin } from "../core/hooks/plugin.ts";
import { networkMatcher } from "./relay.ts";

/** The defaults of {@linkcode rateLimit}. */
export const RATE_LIMIT_DEFAULTS = {
  connectionsPerMinute: 600,
  messagesPerMinute: 600,
  maxTracked: 10_000,
} as const;

const MINUTE = 60_000;

/** Options for {@linkcode rateLimit}. */
export interface RateLimitOptions {
  /** Connections per client address in any 60 s (0: no limit). */
  connectionsPerMinute?: number;
  /** MAIL commands let through per client address in any 60 s (0: no limit). */
  messagesPerMinute?: number;
  /** Client networks (`address/prefix`) that are never limited. */
  exempt?: readonly string[];
  /** Addresses remembered at most, per counter. */
  maxTracked?: number;
  /** The clock in milliseconds (tests inject one). */
  now?: () => number;
}

interface Window {
  /** When the current fixed minute began. */
  start: number;
  /** Events counted in the minute before it. */
  previous: number;
  /** Events counted in the current minute. */
  current: number;
}

/**
 * Counts events per key in a sliding window of `windowMs`, remembering at
 * most `maxKeys` keys (the least recently seen is forgotten first).
 *
 * @example
 * ```ts
 * const window = new SlidingWindow({ limit: 2, windowMs: 60_000, maxKeys: 100 });
 * window.take("192.0.2.1"); // true
 * window.take("192.0.2.1"); // true
 * window.take("192.0.2.1"); // false: a third event within the minute
 * ```
 */
export class SlidingWindow {
  #limit: number;
  #windowMs: number;
  #maxKeys: number;
  #now: () => number;
  #windows = new Map<string, Window>();

  constructor(
    options: { limit: number; windowMs: number; maxKeys: number; now?: () => number },
  ) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Keys remembered now. */
  get size(): number {
    return this.#windows.size;
  }

  /** Counts one event for `key` if it stays within the limit; returns whether it did. */
  take(key: string): boolean {
    const now = this.#now();
    const w = this.#windows.get(key) ?? { start: now, previous: 0, current: 0 };
    // Re-inserting keeps the map in least-recently-seen order for eviction.
    this.#windows.delete(key);
    this.#windows.set(key, w);
    const elapsed = now - w.start;
    if (elapsed >= this.#windowMs) {
      w.previous = elapsed < 2 * this.#windowMs ? w.current : 0;
      w.start = elapsed < 2 * this.#windowMs ? w.start + this.#windowMs : now;
      w.current = 0;
    }
    const overlap = Math.max(0, 1 - (now - w.start) / this.#windowMs);
    const allowed = w.previous * overlap + w.current + 1 <= this.#limit;
    if (allowed) w.current++;
    for (const oldest of this.#windows.keys()) {
      if (this.#windows.size <= this.#maxKeys) break;
      this.#windows.delete(oldest);
    }
    return allowed;
  }
}

/** An IPv4-mapped IPv6 address counts as the IPv4 address it carries. */
function clientKey(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/**
 * Creates the `rate_limit` plugin. Throws a `TypeError` for bad options.
 *
 * @example
 * ```ts
 * const plugin = rateLimit({ connectionsPerMinute: 60, messagesPerMinute: 120, exempt: ["10.0.0.0/8"] });
 * ```
 */
export function rateLimit(options: RateLimitOptions = {}): Plugin {
  const {
    connectionsPerMinute = RATE_LIMIT_DEFAULTS.connectionsPerMinute,
    messagesPerMinute = RATE_LIMIT_DEFAULTS.messagesPerMinute,
    maxTracked = RATE_LIMIT_DEFAULTS.maxTracked,
    exempt = [],
  } = options;
  for (const [name, value] of Object.entries({ connectionsPerMinute, messagesPerMinute })) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`rate_limit: ${name} must be 0 or a positive integer`);
    }
  }
  if (!Number.isSafeInteger(maxTracked) || maxTracked <= 0) {
    throw new TypeError("rate_limit: maxTracked must be a positive integer");
  }
  for (const network of exempt) {
    if (!isCidr(network)) throw new TypeError(`rate_limit: "${network}" is not an address/prefix`);
  }
  const isExempt = networkMatcher(exempt);
  const counter = (limit: number) =>
    limit === 0 ? undefined : new SlidingWindow({
      limit,
      windowMs: MINUTE,
      maxKeys: maxTracked,
      ...(options.now ? { now: options.now } : {}),
    });
  const connections = counter(connectionsPerMinute);
  const messages = counter(messagesPerMinute);
  const limited = (window: SlidingWindow | undefined, address: string) => {
    const key = clientKey(address);
    return window !== undefined && !isExempt(key) && !window.take(key);
  };
  return {
    name: "rate_limit",
    connect(ctx) {
      if (!limited(connections, ctx.connection.remote.address)) return undefined;
      ctx.log.warn("connection rate exceeded", { ip: ctx.connection.remote.address });
      return disconnect(421, "4.7.0", "Too many connections from your address, try again later");
    },
    mail(ctx) {
      if (!limited(messages, ctx.connection.remote.address)) return undefined;
      ctx.log.warn("message rate exceeded", { ip: ctx.connection.remote.address });
      return tempfail(452, "4.7.0", "Too many messages, slow down");
    },
  };
}

/** Builds `rate_limit` from its `[plugin.rate_limit]` table; throws naming a bad option. */
export function rateLimitFromHost(host: Pick<PluginHost, "options">): Plugin {
  const known: Record<string, keyof RateLimitOptions> = {
    connections_per_minute: "connectionsPerMinute",
    messages_per_minute: "messagesPerMinute",
    max_tracked: "maxTracked",
  };
  const options: RateLimitOptions = {};
  for (const [key, value] of Object.entries(host.options)) {
    if (key === "exempt") {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
        throw new Error("plugin.rate_limit: exempt must be an array of strings");
      }
      options.exempt = value;
      continue;
    }
    const field = known[key];
    if (!field) throw new Error(`plugin.rate_limit: unknown option "${key}"`);
    if (typeof value !== "number" && typeof value !== "bigint") {
      throw new Error(`plugin.rate_limit: ${key} must be an integer`);
    }
    (options as Record<string, number>)[field] = Number(value);
  }
  try {
    return rateLimit(options);
  } catch (error) {
    throw new Error(`plugin.${(error as Error).message}`);
  }
}
