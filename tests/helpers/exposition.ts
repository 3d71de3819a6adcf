/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests:
 * every line must parse, `# TYPE` comes before a family's samples and at
 * most once, histogram buckets are cumulative and end in `+Inf` equal to
 * `_count`. It throws on the first violation, naming the line.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed scrape. */
export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  helps: Map<string, string>;
  /** The value of the sample `name` whose labels include all of `labels`; undefined if none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every sample of `name` (any labels). */
  all(name: string): Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, where: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    throw new Error(`${where}: bad value "${text}"`);
  }
  return Number(text);
}

/** Reads `{a="1",b="x\"y"}` from the start of `text`; returns labels and the rest. */
function parseLabels(text: string, where: string): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let rest = text.slice(1);
  for (;;) {
    if (rest.startsWith("}")) return [labels, rest.slice(1)];
    const name = LABEL.exec(rest)?.[0];
    if (!name || rest[name.length] !== "=" || rest[name.length + 1] !== '"') {
      throw new Error(`${where}: bad label at "${rest}"`);
    }
    rest = rest.slice(name.length + 2);
    let value = "";
    for (;;) {
      const c = rest[0];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      rest = rest.slice(1);
      if (c === '"') break;
      if (c === "\n") throw new Error(`${where}: raw line feed in label value`);
      if (c === "\\") {
        const e = rest[0];
        rest = rest.slice(1);
        if (e === "\\") value += "\\";
        else if (e === '"') value += '"';
        else if (e === "n") value += "\n";
        else throw new Error(`${where}: bad escape \\${e}`);
      } else value += c;
    }
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    labels[name] = value;
    if (rest.startsWith(",")) rest = rest.slice(1);
    else if (!rest.startsWith("}")) throw new Error(`${where}: expected , or } at "${rest}"`);
  }
}

/** The family a sample belongs to (histogram samples have suffixes). */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && types.get(base) === "histogram") return base;
  }
  return undefined;
}

function checkHistograms(samples: Sample[], types: Map<string, string>): void {
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const groups = new Map<string, { les: [number, number][]; count?: number }>();
    const keyOf = (labels: Record<string, string>) =>
      JSON.stringify(Object.entries(labels).filter(([k]) => k !== "le").sort());
    for (const s of samples) {
      if (s.name !== `${family}_bucket` && s.name !== `${family}_count`) continue;
      const group = groups.get(keyOf(s.labels)) ?? { les: [] };
      groups.set(keyOf(s.labels), group);
      if (s.name.endsWith("_count")) group.count = s.value;
      else {
        if (s.labels["le"] === undefined) throw new Error(`${family}: bucket without le`);
        group.les.push([parseValue(s.labels["le"], family), s.value]);
      }
    }
    for (const [key, group] of groups) {
      const last = group.les.at(-1);
      if (!last || last[0] !== Infinity) throw new Error(`${family}${key}: no +Inf bucket`);
      if (last[1] !== group.count) throw new Error(`${family}${key}: +Inf bucket != _count`);
      group.les.forEach(([le, n], i) => {
        const prev = group.les[i - 1];
        if (prev && (le <= prev[0] || n < prev[1])) {
          throw new Error(`${family}${key}: buckets not increasing at le=${le}`);
        }
      });
    }
  }
}

/** Parses a scrape strictly; throws on the first bad line. */
export function parseExposition(text: string): Exposition {
  if (!text.endsWith("\n")) throw new Error("the last line must end with a line feed");
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  const seen = new Set<string>();
  text.slice(0, -1).split("\n").forEach((line, i) => {
    const where = `line ${i + 1} "${line}"`;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!match) return; // a plain comment
      const [, kind, name = "", rest = ""] = match;
      if (!NAME.test(name) || NAME.exec(name)?.[0] !== name) throw new Error(`${where}: bad name`);
      if (kind === "TYPE") {
        if (types.has(name)) throw new Error(`${where}: second TYPE`);
        if (seen.has(name)) throw new Error(`${where}: TYPE after samples`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type`);
        types.set(name, rest);
      } else {
        if (helps.has(name)) throw new Error(`${where}: second HELP`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) throw new Error(`${where}: bad escape`);
        helps.set(name, rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\"));
      }
      return;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`${where}: no metric name`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) [labels, rest] = parseLabels(rest, where);
    const parts = rest.trim().split(/[ \t]+/);
    if (!/^[ \t]/.test(rest) || parts.length < 1 || parts.length > 2) {
      throw new Error(`${where}: expected "value [timestamp]"`);
    }
    const value = parseValue(parts[0] as string, where);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`${where}: timestamp`);
    const family = familyOf(name, types);
    if (family === undefined) throw new Error(`${where}: sample before its # TYPE`);
    seen.add(family);
    samples.push({ name, labels, value });
  });
  checkHistograms(samples, types);
  const matches = (s: Sample, labels: Record<string, string>) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  return {
    samples,
    types,
    helps,
    value: (name, labels = {}) => samples.find((s) => s.name === name && matches(s, labels))?.value,
    all: (name) => samples.filter((s) => s.name === name),
  };
}
