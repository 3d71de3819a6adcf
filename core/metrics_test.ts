import assert from "node:assert/strict";
import { test } from "node:test";
import { parseExposition } from "../tests/helpers/exposition.ts";
import { escapeHelp, escapeLabelValue, formatValue, Registry } from "./metrics.ts";

test("Registry.render() writes HELP and TYPE, then one line per label set", () => {
  const registry = new Registry();
  const plain = registry.counter("events_total", "Events seen.");
  const rejects = registry.counter("rejects_total", "Refusals.", ["stage", "code"]);
  const depth = registry.gauge("queue_messages", "Queued messages.");
  plain.inc();
  plain.inc(undefined, 2);
  rejects.inc({ stage: "rcpt", code: "550" });
  rejects.inc({ stage: "rcpt", code: "550" });
  rejects.inc({ stage: "connect", code: "421" });
  depth.set(undefined, 7);
  assert.equal(
    registry.render(),
    [
      "# HELP events_total Events seen.",
      "# TYPE events_total counter",
      "events_total 3",
      "# HELP rejects_total Refusals.",
      "# TYPE rejects_total counter",
      'rejects_total{stage="rcpt",code="550"} 2',
      'rejects_total{stage="connect",code="421"} 1',
      "# HELP queue_messages Queued messages.",
      "# TYPE queue_messages gauge",
      "queue_messages 7",
      "",
    ].join("\n"),
  );
  assert.equal(rejects.get({ stage: "rcpt", code: "550" }), 2);
  assert.equal(rejects.get({ stage: "mail", code: "550" }), 0);
  assert.equal(rejects.total(), 3);
});

test("Registry.render() shows an untouched family without labels at 0", () => {
  const registry = new Registry();
  registry.counter("nothing_total", "Nothing yet.");
  registry.counter("labelled_total", "No label sets yet.", ["kind"]);
  const parsed = parseExposition(registry.render());
  assert.equal(parsed.value("nothing_total"), 0);
  assert.deepEqual(parsed.all("labelled_total"), []);
  assert.equal(parsed.types.get("labelled_total"), "counter");
});

test("Histogram renders cumulative buckets, +Inf, _sum and _count", () => {
  const registry = new Registry();
  const h = registry.histogram("delay_seconds", "Delay.", ["route"], [1, 0.1, 10]);
  for (const v of [0.05, 0.1, 0.5, 2, 100]) h.observe({ route: "local" }, v);
  h.observe({ route: "remote" }, 3);
  const text = registry.render();
  assert.match(text, /^delay_seconds_bucket\{route="local",le="0\.1"\} 2$/m);
  assert.match(text, /^delay_seconds_bucket\{route="local",le="1"\} 3$/m);
  assert.match(text, /^delay_seconds_bucket\{route="local",le="10"\} 4$/m);
  assert.match(text, /^delay_seconds_bucket\{route="local",le="\+Inf"\} 5$/m);
  assert.match(text, /^delay_seconds_sum\{route="local"\} 102\.65$/m);
  assert.match(text, /^delay_seconds_count\{route="local"\} 5$/m);
  const parsed = parseExposition(text);
  assert.equal(parsed.value("delay_seconds_count", { route: "remote" }), 1);
  assert.equal(parsed.value("delay_seconds_bucket", { route: "remote", le: "1" }), 0);
  assert.equal(parsed.value("delay_seconds_bucket", { route: "remote", le: "10" }), 1);
  assert.equal(h.count({ route: "local" }), 5);
});

test("escapeLabelValue() escapes backslash, quote and line feed, and they parse back", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(escapeHelp("x\\y\nz"), "x\\\\y\\nz");
  const registry = new Registry();
  const c = registry.counter("odd_total", "Help with \\ and\nnewline.", ["v"]);
  const nasty = 'quote " back \\ nl \n brace } comma , equals = ünïcødé';
  c.inc({ v: nasty });
  const parsed = parseExposition(registry.render());
  assert.equal(parsed.all("odd_total")[0]?.labels["v"], nasty);
  assert.equal(parsed.helps.get("odd_total"), "Help with \\ and\nnewline.");
});

test("formatValue() writes +Inf, -Inf and NaN", () => {
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(0.25), "0.25");
  assert.equal(formatValue(12), "12");
});

test("a family past its cap folds new label sets into one 'other' series", () => {
  const registry = new Registry();
  const c = registry.counter("codes_total", "Codes.", ["code"], { maxSeries: 3 });
  for (let i = 0; i < 100; i++) c.inc({ code: String(i) });
  const parsed = parseExposition(registry.render());
  assert.equal(parsed.all("codes_total").length, 4);
  assert.equal(parsed.value("codes_total", { code: "other" }), 97);
  assert.equal(c.total(), 100);
});

test("Registry refuses bad names, duplicate families and counters going down", () => {
  const registry = new Registry();
  assert.throws(() => registry.counter("1bad", "x"), TypeError);
  assert.throws(() => registry.counter("ok_total", "x", ["bad-label"]), TypeError);
  assert.throws(() => registry.counter("ok_total", "x", ["__reserved"]), TypeError);
  assert.throws(() => registry.histogram("h", "x", ["le"], [1]), TypeError);
  assert.throws(() => registry.histogram("h", "x", [], []), TypeError);
  assert.throws(() => registry.histogram("h", "x", [], [1, 1]), TypeError);
  const c = registry.counter("ok_total", "x");
  assert.throws(() => registry.counter("ok_total", "x"), TypeError);
  assert.throws(() => c.inc(undefined, -1), RangeError);
});

test("parseExposition() rejects malformed text (the test parser can fail)", () => {
  assert.throws(() => parseExposition("a 1"), /line feed/);
  assert.throws(() => parseExposition("a 1\n"), /before its # TYPE/);
  assert.throws(() => parseExposition('# TYPE a counter\na{x="1} 1\n'), /unterminated/);
  assert.throws(() => parseExposition("# TYPE a counter\na one\n"), /bad value/);
  assert.throws(
    () =>
      parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'),
    /not increasing/,
  );
  assert.throws(
    () => parseExposition('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 1\n'),
    /\+Inf bucket != _count/,
  );
});

test("Counter.total() sums the label sets that match", () => {
  const c = new Registry().counter("d_total", "x", ["result", "route"]);
  c.inc({ result: "delivered", route: "local" }, 2);
  c.inc({ result: "delivered", route: "remote" }, 3);
  c.inc({ result: "deferred", route: "remote" });
  assert.equal(c.total({ result: "delivered" }), 5);
  assert.equal(c.total({ route: "remote" }), 4);
  assert.equal(c.total({ result: "bounced" }), 0);
  assert.equal(c.total(), 6);
});
