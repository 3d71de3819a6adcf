/**
 * A brute-force limiter for failed AUTH attempts, counted per client IP and
 * per account: each failure is answered after a growing delay, and a client
 * or account that reaches its limit is blocked for a while (the session then
 * answers 421 4.7.0 and closes). Successful logins are never slowed.
 *
 * Counting per IP catches credential stuffing (one IP, many accounts);
 * counting per account catches distributed guessing (many IPs, one account).
 * IPv6 clients are counted per /64, the usual size of one site's network, so
 * an attacker cannot get a fresh budget by rotating through its own addresses.
 *
 * Pure and in-memory: the clock is injected, and the entry count is bounded.
 *
 * @example
 * ```ts
 * const limiter = new AuthLimiter({ now: () => Date.now() });
 * if (limiter.blocked(ip, user).blocked) {
 *   // reply 421 4.7.0 and close
 * } else if (await check(user, password)) {
 *   limiter.success(ip, user); // reply 235 2.7.0
 * } else {
 *   const { delayMs, nowBlocked } = limiter.failure(ip, user);
 *   // wait delayMs, then reply 535 5.7.8 (or 421 4.7.0 and close when nowBlocked)
 * }
 * ```
 *
 * @module
 */
import { isIP } from "node:net";

/** Options for {@link AuthLimiter}. */
export interface LimiterOptions {
  /** The clock, in milliseconds (injected so tests control time). */
  now(): number;
  /** Failures from one IP (or IPv6 /64) within `windowMs` before it is blocked. */
  maxFailuresPerIp: number;
  /** Failures for one account within `windowMs` before it is blocked. */
  maxFailuresPerAccount: number;
  /** Failures older than this are forgotten. */
  windowMs: number;
  /** How long a block lasts. */
  blockMs: number;
  /** The delay after the first failure; it doubles with each further one. */
  baseDelayMs: number;
  /** The cap on the delay. */
  maxDelayMs: number;
  /** The most IPs and accounts remembered; the least recently failed are evicted first. */
  maxEntries: number;
}

/** Default limits: 10 failures per IP or 5 per account in 15 minutes block for 15 minutes. */
export const DEFAULT_LIMITER: Omit<LimiterOptions, "now"> = Object.freeze({
  maxFailuresPerIp: 10,
  maxFailuresPerAccount: 5,
  windowMs: 15 * 60_000,
  blockMs: 15 * 60_000,
  baseDelayMs: 250,
  maxDelayMs: 5000,
  maxEntries: 10_000,
});

/** The answer of {@link AuthLimiter.blocked}. */
export type BlockedResult =
  | { blocked: false }
  | { blocked: true; retryAfterMs: number; scope: "ip" | "account" };

/** The answer of {@link AuthLimiter.failure}. */
export interface FailureResult {
  /** How long to wait before answering the failed attempt. */
  delayMs: number;
  /** True when this failure reached a limit: answer 421 4.7.0 and close. */
  nowBlocked: boolean;
}

interface Entry {
  /** Times of the failures still inside the window, oldest first. */
  failures: number[];
  /** When the block ends; 0 when not blocked. */
  blockedUntil: number;
}

/**
 * Counts failed logins per IP and per account, with growing delays and then
 * a temporary block. See the module documentation for the call pattern.
 */
export class AuthLimiter {
  readonly #options: LimiterOptions;
  /** Keyed `ip <address>` or `account <name>`; Map order is least recently failed first. */
  readonly #entries = new Map<string, Entry>();

  /**
   * Creates a limiter with empty counts.
   *
   * @param options The clock, plus any limits that differ from {@link DEFAULT_LIMITER}.
   * @throws {RangeError} When a limit is not a sensible number.
   */
  constructor(options: Partial<LimiterOptions> & { now(): number }) {
    const merged: LimiterOptions = { ...DEFAULT_LIMITER, ...options };
    for (const name of ["maxFailuresPerIp", "maxFailuresPerAccount"] as const) {
      positiveInteger(name, merged[name], 1);
    }
    // Two, so one failure can hold both its IP and its account entry.
    positiveInteger("maxEntries", merged.maxEntries, 2);
    for (const name of ["windowMs", "blockMs", "baseDelayMs", "maxDelayMs"] as const) {
      const value = merged[name];
      if (!Number.isFinite(value) || value < 0) {
        throw new RangeError(`AuthLimiter: ${name} must be a finite number >= 0, got ${value}`);
      }
    }
    this.#options = merged;
  }

  /**
   * Before an attempt: is this IP (or this account) blocked right now?
   *
   * @param ip The client's address.
   * @param account The login name, when already known (case-insensitive).
   * @returns `{ blocked: false }`, or the scope that is blocked and for how much longer.
   */
  blocked(ip: string, account?: string): BlockedResult {
    const now = this.#options.now();
    const checks: ["ip" | "account", string][] = [["ip", ipKey(ip)]];
    if (account !== undefined) checks.push(["account", accountKey(account)]);
    for (const [scope, key] of checks) {
      const entry = this.#entries.get(key);
      if (entry === undefined) continue;
      if (entry.blockedUntil > now) {
        return { blocked: true, retryAfterMs: entry.blockedUntil - now, scope };
      }
      this.#prune(key, entry, now);
    }
    return { blocked: false };
  }

  /**
   * After a failed attempt: records it for the IP and, when known, the account.
   *
   * The delay grows with the larger of the two failure counts `n` in the
   * window, as `baseDelayMs * 2^(n-1)`, capped at `maxDelayMs`. Reaching a
   * limit starts a block of `blockMs` and clears that count, so the count
   * starts afresh once the block ends.
   *
   * @param ip The client's address.
   * @param account The login name, or `undefined` when the attempt named none.
   * @returns The delay before answering, and whether a limit was reached
   *   (then answer 421 4.7.0 and close).
   */
  failure(ip: string, account: string | undefined): FailureResult {
    const { now: clock, maxFailuresPerIp, maxFailuresPerAccount } = this.#options;
    const now = clock();
    let worst = 0;
    let nowBlocked = false;
    const counts: [string, number][] = [[ipKey(ip), maxFailuresPerIp]];
    if (account !== undefined) counts.push([accountKey(account), maxFailuresPerAccount]);
    for (const [key, limit] of counts) {
      const entry = this.#touch(key, now);
      if (entry.blockedUntil > now) {
        // Already blocked (the caller skipped blocked()): keep the block as it is.
        nowBlocked = true;
        worst = Math.max(worst, limit);
        continue;
      }
      entry.failures.push(now);
      worst = Math.max(worst, entry.failures.length);
      if (entry.failures.length >= limit) {
        entry.blockedUntil = now + this.#options.blockMs;
        entry.failures = [];
        nowBlocked = true;
      }
    }
    this.#evict();
    return { delayMs: this.#delay(worst), nowBlocked };
  }

  /**
   * After a success: no delay, and the account's failure count is cleared.
   * The IP's count stays, so one good login cannot reset a stuffing run.
   *
   * @param _ip The client's address: accepted for symmetry, its count is left alone.
   * @param account The login name that succeeded.
   */
  success(_ip: string, account: string): void {
    const key = accountKey(account);
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    entry.failures = [];
    this.#prune(key, entry, this.#options.now());
  }

  /** How many IPs and accounts are remembered (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  #delay(failures: number): number {
    if (failures <= 0) return 0;
    const { baseDelayMs, maxDelayMs } = this.#options;
    // The exponent is capped so the power stays finite; the min() caps it anyway.
    return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(failures - 1, 52));
  }

  /** Gets or creates an entry, drops expired failures, and marks it most recent. */
  #touch(key: string, now: number): Entry {
    const entry = this.#entries.get(key) ?? { failures: [], blockedUntil: 0 };
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#forget(entry, now);
    return entry;
  }

  /** Drops expired failures and forgets the entry once nothing in it is live. */
  #prune(key: string, entry: Entry, now: number): void {
    this.#forget(entry, now);
    if (entry.failures.length === 0 && entry.blockedUntil <= now) this.#entries.delete(key);
  }

  #forget(entry: Entry, now: number): void {
    const horizon = now - this.#options.windowMs;
    const keep = entry.failures.findIndex((time) => time > horizon);
    if (keep !== 0) entry.failures = keep < 0 ? [] : entry.failures.slice(keep);
    if (entry.blockedUntil <= now) entry.blockedUntil = 0;
  }

  /** Evicts the least recently failed entries beyond `maxEntries`. */
  #evict(): void {
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#options.maxEntries) return;
      this.#entries.delete(key);
    }
  }
}

function positiveInteger(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`AuthLimiter: ${name} must be an integer >= ${min}, got ${value}`);
  }
}

/** Account names compare case-insensitively. */
function accountKey(account: string): string {
  return `account ${account.toLowerCase()}`;
}

/**
 * The counting key of a client address: IPv4 as is, IPv6 by its /64 prefix
 * (IPv4-mapped IPv6 as the IPv4 address), anything else (a Unix socket, a
 * proxy's "unknown") as its text.
 */
function ipKey(ip: string): string {
  // Brackets and a zone id (fe80::1%eth0) are not part of the address.
  const bare = ip.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const family = isIP(bare);
  if (family === 4) return `ip ${bare}`;
  if (family !== 6) return `ip ${ip.toLowerCase()}`;
  const groups = expandIpv6(bare);
  // ::ffff:a.b.c.d is an IPv4 client seen through a dual-stack socket.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return `ip ${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return `ip ${groups.slice(0, 4).map((group) => group.toString(16)).join(":")}::/64`;
}

/** Expands a valid IPv6 address (as checked by `isIP`) to its eight 16-bit groups. */
function expandIpv6(address: string): number[] {
  let text = address.toLowerCase();
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${
      ((c << 8) | d).toString(16)
    }`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string) => part === "" ? [] : part.split(":").map((g) => parseInt(g, 16));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const zeros = new Array<number>(Math.max(0, 8 - left.length - right.length)).fill(0);
  return [...left, ...zeros, ...right];
}
