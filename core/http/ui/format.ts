/**
 * Small formatting helpers the web UI's pages share: sizes, ages, times and
 * the one-line summary of a mail event's fields. Pure functions, so the
 * pages render the same on every runtime and the tests need no server.
 *
 * @module
 */

/**
 * A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
 *
 * @example
 * ```ts
 * formatBytes(1536); // "1.5 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes || 0))} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * A duration in seconds, to the two largest units: `42s`, `3m 12s`,
 * `5h 1m`, `2d 4h`.
 *
 * @example
 * ```ts
 * formatDuration(192); // "3m 12s"
 * ```
 */
export function formatDuration(seconds: number): string {
  let s = Math.max(0, Math.floor(seconds || 0));
  const parts: [number, string][] = [];
  for (const [size, unit] of [[86_400, "d"], [3600, "h"], [60, "m"]] as const) {
    parts.push([Math.floor(s / size), unit]);
    s %= size;
  }
  parts.push([s, "s"]);
  const first = parts.findIndex(([n]) => n > 0);
  if (first === -1) return "0s";
  return parts.slice(first, first + 2).filter(([n], i) => i === 0 || n > 0)
    .map(([n, unit]) => `${n}${unit}`).join(" ");
}

/**
 * A moment as `YYYY-MM-DD HH:MM:SS` in UTC (the server's logs are UTC too).
 *
 * @example
 * ```ts
 * formatTime(Date.UTC(2025, 0, 2, 12, 0, 5)); // "2025-01-02 12:00:05"
 * ```
 */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

/**
 * A mail event's fields as one line of `key=value` pairs, values quoted
 * when they hold spaces, as in the text log. Kept free of outside names
 * (no imports, no helpers) because `app.js` runs this same function's
 * source in the browser (see `app_js.ts`).
 *
 * @example
 * ```ts
 * eventSummary({ id: "Q1", error: "no route" }); // 'id=Q1 error="no route"'
 * ```
 */
export function eventSummary(fields: Readonly<Record<string, unknown>>): string {
  const parts = [];
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value === undefined || value === null) continue;
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    parts.push(`${key}=${/[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text}`);
  }
  return parts.join(" ");
}

/**
 * How an event is shown: `bad` (rejects, bounces, errors), `good`
 * (delivered, queued) or `info`. Browser-safe like {@linkcode eventSummary}.
 *
 * @example
 * ```ts
 * eventTone("reject", {}); // "bad"
 * ```
 */
export function eventTone(name: string, fields: Readonly<Record<string, unknown>>): string {
  if (/reject|bounce|error|fail|refused|timeout|abandon/.test(name)) return "bad";
  if (name === "attempted") {
    return Number(fields["failed"] ?? 0) > 0 || Number(fields["deferred"] ?? 0) > 0
      ? "warn"
      : "good";
  }
  if (name === "queued" || name === "delivered" || name === "auth") return "good";
  return "info";
}
