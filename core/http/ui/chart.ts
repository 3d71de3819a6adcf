/**
 * The dashboard chart's data shaping: samples of `/api/stats` in, per-second
 * rates and SVG polyline points out. `app.js` runs these same functions in
 * the browser (their source is embedded by `app_js.ts`), so each one must
 * stay self-contained: no imports, no calls to other top-level names.
 *
 * @module
 */

/** One reading of `/api/stats`, reduced to what the chart draws. */
export interface StatsSample {
  /** When it was taken, ms since the epoch. */
  time: number;
  /** Cumulative messages accepted (queued) since the server started. */
  accepted: number;
  /** Cumulative recipients delivered since the server started. */
  delivered: number;
  /** Messages in the queue right now. */
  queue: number;
}

/**
 * Reads a {@linkcode StatsSample} from a `/api/stats` body, or `undefined`
 * when the body is not in that shape. `time` may be ms, seconds or an ISO
 * string; `now` stands in when it is missing.
 *
 * @example
 * ```ts
 * statsSample({ time: 5000, queue: { messages: 2 }, totals: { accepted: 9, delivered: 7 } }, 0);
 * // { time: 5000, accepted: 9, delivered: 7, queue: 2 }
 * ```
 */
export function statsSample(body: unknown, now: number): StatsSample | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as { time?: unknown; queue?: unknown; totals?: unknown };
  const totals = (typeof b.totals === "object" && b.totals !== null ? b.totals : {}) as Record<
    string,
    unknown
  >;
  const queue = (typeof b.queue === "object" && b.queue !== null ? b.queue : {}) as Record<
    string,
    unknown
  >;
  const accepted = Number(totals["accepted"]);
  const delivered = Number(totals["delivered"]);
  const messages = Number(queue["messages"]);
  if (![accepted, delivered, messages].every(Number.isFinite)) return undefined;
  let time = typeof b.time === "string" ? Date.parse(b.time) : Number(b.time);
  if (!Number.isFinite(time) || time <= 0) time = now;
  else if (time < 1e11) time *= 1000; // seconds since the epoch
  return { time, accepted, delivered, queue: messages };
}

/**
 * Per-second rates between consecutive samples of a cumulative counter:
 * one value fewer than samples. A counter that went down (the server
 * restarted) counts as 0, and so does a step with no time between.
 *
 * @example
 * ```ts
 * rates([{ time: 0, n: 0 }, { time: 2000, n: 10 }], "n"); // [5]
 * ```
 */
export function rates<K extends string>(
  samples: readonly (Readonly<Record<K, number>> & { readonly time: number })[],
  key: K,
): number[] {
  const out: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1];
    const after = samples[i];
    if (before === undefined || after === undefined) continue;
    const seconds = (after.time - before.time) / 1000;
    const delta = after[key] - before[key];
    out.push(seconds > 0 && delta > 0 ? delta / seconds : 0);
  }
  return out;
}

/**
 * The smallest of 1, 2 or 5 × 10ⁿ at or above `value` (at least 1): the
 * chart's top line, so its label is a round number.
 *
 * @example
 * ```ts
 * niceCeiling(37); // 50
 * ```
 */
export function niceCeiling(value: number): number {
  if (!(value > 1)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 5, 10]) {
    // The rounding guards against 0.30000000000000004-style drift.
    const candidate = Math.round(step * power * 1e6) / 1e6;
    if (candidate >= value) return candidate;
  }
  return 10 * power;
}

/**
 * SVG `points` for `values` in a `width` × `height` box: the newest value
 * at the right edge, `slots` values across, y growing downwards, values
 * clamped to `[0, max]`. Coordinates have one decimal.
 *
 * @example
 * ```ts
 * chartPoints([0, 5, 10], 3, 100, 50, 10); // "0,50 50,25 100,0"
 * ```
 */
export function chartPoints(
  values: readonly number[],
  slots: number,
  width: number,
  height: number,
  max: number,
): string {
  if (slots < 2 || !(max > 0)) return "";
  const step = width / (slots - 1);
  const shown = values.slice(-slots);
  const offset = slots - shown.length;
  const round = (n: number) => Math.round(n * 10) / 10;
  return shown.map((value, i) => {
    const clamped = Math.min(Math.max(Number.isFinite(value) ? value : 0, 0), max);
    return `${round((offset + i) * step)},${round(height - (clamped / max) * height)}`;
  }).join(" ");
}
