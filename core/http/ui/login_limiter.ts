/**
 * Slows down guessing the admin token at the login form: every failed
 * login is answered late, later with each recent failure, and a client
 * with too many recent failures is refused outright for a while. The
 * token is 256 random bits, so this is defence in depth, not the defence.
 *
 * @example
 * ```ts
 * const limiter = new LoginLimiter({ maxFailures: 3 });
 * limiter.retryAfter("192.0.2.1"); // 0: may try
 * const wait = limiter.failed("192.0.2.1"); // answer after `wait` ms
 * limiter.succeeded("192.0.2.1"); // forgets the failures
 * ```
 *
 * @module
 */

/** Options for {@linkcode LoginLimiter}. */
export interface LoginLimiterOptions {
  /** Failures within the window before a client is refused (default 10). */
  maxFailures?: number;
  /** How long a failure counts, in ms (default 15 minutes). */
  windowMs?: number;
  /** The answer delay per recent failure, in ms (default 500; at most 5 s in all). */
  delayMs?: number;
  /** How many clients to remember; the oldest are forgotten first (default 10,000). */
  maxClients?: number;
  now?: () => number;
}

const MAX_DELAY_MS = 5000;

/** Failed logins per client, in a sliding window. */
export class LoginLimiter {
  #failures = new Map<string, number[]>();
  #maxFailures: number;
  #windowMs: number;
  #delayMs: number;
  #maxClients: number;
  #now: () => number;

  constructor(options: LoginLimiterOptions = {}) {
    this.#maxFailures = options.maxFailures ?? 10;
    this.#windowMs = options.windowMs ?? 15 * 60_000;
    this.#delayMs = options.delayMs ?? 500;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The failures of `key` still in the window (and forgets older ones). */
  #recent(key: string): number[] {
    const since = this.#now() - this.#windowMs;
    const times = (this.#failures.get(key) ?? []).filter((t) => t > since);
    if (times.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, times);
    return times;
  }

  /** Milliseconds until `key` may try again; 0 when it may try now. */
  retryAfter(key: string): number {
    const times = this.#recent(key);
    if (times.length < this.#maxFailures) return 0;
    // Allowed again once enough of the oldest failures have left the window.
    const oldest = times[times.length - this.#maxFailures] ?? this.#now();
    return Math.max(1, oldest + this.#windowMs - this.#now());
  }

  /** Records a failed login by `key`; returns how long to hold the answer, in ms. */
  failed(key: string): number {
    const times = this.#recent(key);
    times.push(this.#now());
    // Re-inserted last, so the map's first entries are the least recently failing clients.
    this.#failures.delete(key);
    this.#failures.set(key, times.slice(-this.#maxFailures));
    while (this.#failures.size > this.#maxClients) {
      const first = this.#failures.keys().next();
      if (first.done) break;
      this.#failures.delete(first.value);
    }
    return Math.min(this.#delayMs * times.length, MAX_DELAY_MS);
  }

  /** Forgets the failures of `key` after it logged in. */
  succeeded(key: string): void {
    this.#failures.delete(key);
  }

  /** How many clients have recent failures (for tests). */
  get clients(): number {
    return this.#failures.size;
  }
}
