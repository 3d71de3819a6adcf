/**
 * One way to bound a wait: a promise raced against a timer that rejects
 * with the caller's error, and the timer cleared either way.
 *
 * @module
 */

/**
 * Resolves like `promise`, or rejects with `error()` after `ms`.
 *
 * @example
 * ```ts
 * await withDeadline(conn.startTls(tls), 10_000, () => new Error("no TLS handshake"));
 * ```
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
