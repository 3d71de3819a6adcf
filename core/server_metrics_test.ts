import assert from "node:assert/strict";
import { test } from "node:test";
import { parseExposition } from "../tests/helpers/exposition.ts";
import { EventBus } from "./events.ts";
import { ServerMetrics } from "./server_metrics.ts";

const EMPTY = { messages: 0, held: 0, oldestReceivedAt: undefined };

function feed(): { metrics: ServerMetrics; bus: EventBus } {
  const bus = new EventBus();
  const metrics = new ServerMetrics({ version: "1.2.3", runtime: "test", startedAt: 5_000 });
  metrics.observe(bus);
  return { metrics, bus };
}

test("ServerMetrics counts the mail events it observes", () => {
  const { metrics, bus } = feed();
  bus.publish("connect", { conn: "c1" });
  bus.publish("connect", { conn: "c2" });
  bus.publish("tls", { conn: "c1" });
  bus.publish("queued", { id: "Q1" });
  bus.publish("reject", { conn: "c2", stage: "rcpt", code: 550, enhanced: "5.1.1" });
  bus.publish("reject", { conn: "c2", stage: "rcpt", code: 550 });
  bus.publish("reject", { ip: "192.0.2.1", stage: "handshake", reason: "boom" });
  bus.publish("auth", { conn: "c1", user: "a@x", mechanism: "PLAIN" });
  bus.publish("auth_failed", { conn: "c2", user: "b@x", mechanism: "PLAIN" });
  bus.publish("delivered", { id: "Q1", to: "a@x", via: "local", delay: 0.02 });
  bus.publish("delivered", { id: "Q1", to: "b@y", via: "smtp", delay: 120 });
  bus.publish("deferred", { id: "Q1", to: "c@y", via: "smtp", delay: 1 });
  bus.publish("failed", { id: "Q1", to: "d@y", via: "smtp", delay: 1 });
  bus.publish("delivered", { id: "Q2", to: "e@z", via: "atrn", delay: 3 });
  bus.publish("smtp_session", { id: "Q1", host: "mx", tls: "TLSv1.3" });
  bus.publish("bounce", { id: "Q1", report: "R1" });
  bus.publish("plugin_error", { conn: "c1", plugin: "dnsbl", hook: "connect", reason: "x" });
  bus.publish("disconnect", { conn: "c1", tls: "starttls" });
  bus.publish("disconnect", { conn: "c2", tls: "none" });
  const m = parseExposition(metrics.scrape({ connections: 1, queue: EMPTY, now: 9_000 }));
  assert.equal(m.value("postino_smtp_connections_total"), 2);
  assert.equal(m.value("postino_smtp_connections"), 1);
  assert.equal(m.value("postino_smtp_sessions_total", { tls: "starttls" }), 1);
  assert.equal(m.value("postino_smtp_sessions_total", { tls: "none" }), 1);
  assert.equal(m.value("postino_smtp_sessions_total", { tls: "implicit" }), 0);
  assert.equal(m.value("postino_messages_accepted_total"), 1);
  assert.equal(m.value("postino_smtp_rejects_total", { stage: "rcpt", code: "550" }), 2);
  assert.equal(m.value("postino_smtp_rejects_total", { stage: "handshake", code: "none" }), 1);
  assert.equal(m.value("postino_smtp_auth_total", { result: "success" }), 1);
  assert.equal(m.value("postino_smtp_auth_total", { result: "failure" }), 1);
  const deliveries = (result: string, route: string) =>
    m.value("postino_deliveries_total", { result, route });
  assert.equal(deliveries("delivered", "local"), 1);
  assert.equal(deliveries("delivered", "remote"), 1);
  assert.equal(deliveries("delivered", "atrn"), 1);
  assert.equal(deliveries("deferred", "remote"), 1);
  assert.equal(deliveries("bounced", "remote"), 1);
  assert.equal(deliveries("bounced", "local"), 0);
  assert.equal(m.value("postino_delivery_delay_seconds_count", { route: "remote" }), 1);
  assert.equal(m.value("postino_delivery_delay_seconds_sum", { route: "remote" }), 120);
  assert.equal(m.value("postino_delivery_delay_seconds_bucket", { route: "local", le: "0.05" }), 1);
  assert.equal(m.value("postino_delivery_delay_seconds_bucket", { route: "local", le: "0.01" }), 0);
  assert.equal(m.value("postino_outbound_sessions_total", { tls: "TLSv1.3" }), 1);
  assert.equal(m.value("postino_dsn_queued_total"), 1);
  assert.equal(m.value("postino_plugin_errors_total", { plugin: "dnsbl", hook: "connect" }), 1);
  assert.equal(
    m.value("postino_build_info", { version: "1.2.3", revision: "unknown", runtime: "test" }),
    1,
  );
  assert.equal(m.value("postino_start_time_seconds"), 5);
  assert.deepEqual(metrics.totals(), {
    connections: 2,
    accepted: 1,
    rejected: 3,
    delivered: 3,
    deferred: 1,
    bounced: 1,
  });
});

test("ServerMetrics.scrape() reads the queue gauges at scrape time", () => {
  const { metrics } = feed();
  const queue = { messages: 4, held: 1, oldestReceivedAt: 1_000 };
  const m = parseExposition(metrics.scrape({ connections: 0, queue, now: 91_000 }));
  assert.equal(m.value("postino_queue_messages"), 4);
  assert.equal(m.value("postino_queue_held_messages"), 1);
  assert.equal(m.value("postino_queue_oldest_message_age_seconds"), 90);
  const empty = parseExposition(metrics.scrape({ connections: 0, queue: EMPTY, now: 91_000 }));
  assert.equal(empty.value("postino_queue_oldest_message_age_seconds"), 0);
});

test("ServerMetrics.hookTiming feeds the plugin hook histogram", () => {
  const { metrics } = feed();
  const timing = metrics.hookTiming; // handed over detached, as serve does
  timing("rcpt_local", "rcpt", 0.0002);
  timing("rcpt_local", "rcpt", 0.3);
  timing("spool", "queue", 0.004);
  const m = parseExposition(metrics.scrape({ connections: 0, queue: EMPTY, now: 0 }));
  const hook = { plugin: "rcpt_local", hook: "rcpt" };
  assert.equal(m.value("postino_plugin_hook_duration_seconds_count", hook), 2);
  assert.equal(
    m.value("postino_plugin_hook_duration_seconds_bucket", { ...hook, le: "0.0005" }),
    1,
  );
  assert.equal(
    m.value("postino_plugin_hook_duration_seconds_count", { plugin: "spool", hook: "queue" }),
    1,
  );
});

test("ServerMetrics keeps odd label values bounded and escaped", () => {
  const { metrics, bus } = feed();
  for (let i = 0; i < 1000; i++) bus.publish("reject", { stage: "rcpt", code: `5${i}` });
  bus.publish("reject", { stage: 'we"ird\nstage', code: 421 });
  const m = parseExposition(metrics.scrape({ connections: 0, queue: EMPTY, now: 0 }));
  // Codes that are not three digits ("50".."59", "5100".."5999") become "none".
  assert.equal(m.value("postino_smtp_rejects_total", { stage: "rcpt", code: "none" }), 910);
  assert.equal(m.value("postino_smtp_rejects_total", { stage: "rcpt", code: "599" }), 1);
  assert.ok(m.all("postino_smtp_rejects_total").length <= 92);
  assert.equal(m.value("postino_smtp_rejects_total", { stage: 'we"ird\nstage', code: "421" }), 1);
});
