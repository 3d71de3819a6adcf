/**
 * A small metrics registry: counters, gauges and histograms with labels,
 * rendered in the Prometheus text exposition format 0.0.4 (`# HELP` and
 * `# TYPE` lines, one sample per line, `\n` line endings, label values
 * escaped). Each family caps its number of label sets, so a label fed from
 * the outside (a reply code, a plugin name) cannot grow memory without
 * bound: past the cap, new label sets share one series whose labels are all
 * `other`.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const rejects = registry.counter("smtp_rejects_total", "Refused commands.", ["stage"]);
 * rejects.inc({ stage: "rcpt" });
 * registry.render(); // "# HELP smtp_rejects_total Refused commands.\n# TYPE …"
 * ```
 *
 * @module
 */

/** Label values by label name; a missing label is the empty string. */
export type Labels = Readonly<Record<string, string>>;

/** The `Content-Type` of {@linkcode Registry.render}'s output. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** The default cap on label sets per family. */
const MAX_SERIES = 500;
const OVERFLOW = "other";

/** `\`, `"` and line feed escaped, as label values must be. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** `\` and line feed escaped, as `# HELP` text must be. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value: Go's float syntax, with `+Inf`, `-Inf` and `NaN`. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts = names.map((name, i) => `${name}="${escapeLabelValue(values[i] ?? "")}"`);
  if (extra !== "") parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** What every family shares: name, help, label names and the series map. */
abstract class Family<S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly type: "counter" | "gauge" | "histogram";
  #series = new Map<string, { values: string[]; state: S }>();
  #maxSeries: number;

  constructor(name: string, help: string, labelNames: readonly string[], maxSeries: number) {
    if (!METRIC_NAME.test(name)) throw new TypeError(`invalid metric name "${name}"`);
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__")) {
        throw new TypeError(`invalid label name "${label}" on ${name}`);
      }
    }
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.#maxSeries = maxSeries;
  }

  protected abstract fresh(): S;

  /** The state of one label set, created on first use (or the overflow series). */
  protected series(labels: Labels | undefined): S {
    const values = this.labelNames.map((name) => labels?.[name] ?? "");
    const key = values.join("\u0000");
    let entry = this.#series.get(key);
    if (entry === undefined) {
      const overflowKey = this.labelNames.map(() => OVERFLOW).join("\u0000");
      if (this.#series.size >= this.#maxSeries && key !== overflowKey) {
        // Full: this label set joins the shared overflow series (one past the cap).
        entry = this.#series.get(overflowKey);
        if (entry !== undefined) return entry.state;
        return this.series(Object.fromEntries(this.labelNames.map((n) => [n, OVERFLOW])));
      }
      entry = { values, state: this.fresh() };
      this.#series.set(key, entry);
    }
    return entry.state;
  }

  /** The state of one label set, if it was ever used. */
  protected find(labels: Labels | undefined): S | undefined {
    return this.#series.get(this.labelNames.map((name) => labels?.[name] ?? "").join("\u0000"))
      ?.state;
  }

  /** Every label set so far, in first-use order. */
  protected entries(): { values: string[]; state: S }[] {
    return [...this.#series.values()];
  }

  /** The sample lines (without `# HELP`/`# TYPE`). */
  abstract samples(): string[];

  /** The whole family as exposition text, final line feed included. */
  render(): string {
    const head = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    const lines = this.samples();
    return head + lines.map((line) => `${line}\n`).join("");
  }
}

/** A value that only goes up (resets when the process restarts). */
export class Counter extends Family<{ value: number }> {
  readonly type = "counter";

  protected fresh(): { value: number } {
    return { value: 0 };
  }

  /**
   * Adds `by` (default 1).
   *
   * @throws {RangeError} When `by` is negative: a counter never goes down.
   */
  inc(labels?: Labels, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`counter ${this.name} cannot go down`);
    this.series(labels).value += by;
  }

  /** The current value of one label set (0 if never touched). */
  get(labels?: Labels): number {
    return this.find(labels)?.value ?? 0;
  }

  /** The sum over every label set, or over those that have all the labels in `match`. */
  total(match: Labels = {}): number {
    const wanted = Object.entries(match).map((
      [name, value],
    ) => [this.labelNames.indexOf(name), value]);
    return this.entries().reduce(
      (sum, e) => wanted.every(([i, v]) => e.values[i as number] === v) ? sum + e.state.value : sum,
      0,
    );
  }

  samples(): string[] {
    // A family without labels always shows its one series, even at 0.
    if (this.labelNames.length === 0) this.series(undefined);
    return this.entries().map((e) =>
      `${this.name}${labelText(this.labelNames, e.values)} ${formatValue(e.state.value)}`
    );
  }
}

/** A value that goes up and down, usually read at scrape time. */
export class Gauge extends Family<{ value: number }> {
  readonly type = "gauge";

  protected fresh(): { value: number } {
    return { value: 0 };
  }

  set(labels: Labels | undefined, value: number): void {
    this.series(labels).value = value;
  }

  get(labels?: Labels): number {
    return this.find(labels)?.value ?? 0;
  }

  samples(): string[] {
    if (this.labelNames.length === 0) this.series(undefined);
    return this.entries().map((e) =>
      `${this.name}${labelText(this.labelNames, e.values)} ${formatValue(e.state.value)}`
    );
  }
}

interface HistogramState {
  /** Observations per bucket (not cumulative), plus one for +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram extends Family<HistogramState> {
  readonly type = "histogram";
  readonly buckets: readonly number[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    maxSeries: number,
  ) {
    if (labelNames.includes("le")) throw new TypeError(`histogram ${name} cannot use label "le"`);
    super(name, help, labelNames, maxSeries);
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || b === sorted[i - 1])) {
      throw new TypeError(`histogram ${name} needs distinct finite buckets`);
    }
    this.buckets = sorted;
  }

  protected fresh(): HistogramState {
    return { counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  observe(labels: Labels | undefined, value: number): void {
    const state = this.series(labels);
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] as number)) i++;
    state.counts[i] = (state.counts[i] ?? 0) + 1;
    state.sum += value;
    state.count++;
  }

  /** How many observations one label set has. */
  count(labels?: Labels): number {
    return this.find(labels)?.count ?? 0;
  }

  samples(): string[] {
    if (this.labelNames.length === 0) this.series(undefined);
    const lines: string[] = [];
    for (const { values, state } of this.entries()) {
      let cumulative = 0;
      const bounds = [...this.buckets.map(formatValue), "+Inf"];
      bounds.forEach((bound, i) => {
        cumulative += state.counts[i] ?? 0;
        const labels = labelText(this.labelNames, values, `le="${bound}"`);
        lines.push(`${this.name}_bucket${labels} ${cumulative}`);
      });
      const labels = labelText(this.labelNames, values);
      lines.push(`${this.name}_sum${labels} ${formatValue(state.sum)}`);
      lines.push(`${this.name}_count${labels} ${state.count}`);
    }
    return lines;
  }
}

/** Options shared by the family constructors of {@linkcode Registry}. */
export interface FamilyOptions {
  /** The most label sets this family keeps (default 500). */
  maxSeries?: number;
}

/** The families of one process, rendered together. */
export class Registry {
  #families = new Map<string, Family<unknown>>();

  #add<F extends Family<unknown>>(family: F): F {
    if (this.#families.has(family.name)) {
      throw new TypeError(`metric ${family.name} is already registered`);
    }
    this.#families.set(family.name, family);
    return family;
  }

  counter(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    options: FamilyOptions = {},
  ): Counter {
    return this.#add(new Counter(name, help, labelNames, options.maxSeries ?? MAX_SERIES));
  }

  gauge(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    options: FamilyOptions = {},
  ): Gauge {
    return this.#add(new Gauge(name, help, labelNames, options.maxSeries ?? MAX_SERIES));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    options: FamilyOptions = {},
  ): Histogram {
    return this.#add(
      new Histogram(name, help, labelNames, buckets, options.maxSeries ?? MAX_SERIES),
    );
  }

  /** Every family in registration order, as exposition text. */
  render(): string {
    return [...this.#families.values()].map((family) => family.render()).join("");
  }
}
