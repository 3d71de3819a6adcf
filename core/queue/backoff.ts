/**
 * The retry schedule: exponential backoff with jitter, in the spirit of
 * Postfix's defaults (first retry after about 5 minutes, at most about an
 * hour apart, give up after 5 days).
 *
 * @module
 */

/** Retry settings, in milliseconds. */
export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  /** How long a message may stay queued before it bounces as expired. */
  maxAgeMs: number;
  /** ± fraction applied to each delay so retries from one outage spread out. */
  jitter: number;
}

/** The defaults. */
export const DEFAULT_RETRY: RetryPolicy = {
  initialMs: 5 * 60_000,
  maxMs: 60 * 60_000,
  maxAgeMs: 5 * 24 * 60 * 60_000,
  jitter: 0.2,
};

/**
 * The delay before attempt number `attempts + 1`, given `attempts` failed
 * attempts so far (1 → about `initialMs`, doubling up to `maxMs`).
 */
export function retryDelay(
  attempts: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempts - 1);
  const base = Math.min(policy.initialMs * 2 ** Math.min(exponent, 30), policy.maxMs);
  const spread = 1 + policy.jitter * (2 * random() - 1);
  return Math.max(1, Math.round(base * spread));
}
