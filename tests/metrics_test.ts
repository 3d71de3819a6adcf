/**
 * `GET /metrics` on the real server after real SMTP traffic: accepted and
 * refused mail, STARTTLS with AUTH, implicit TLS, local delivery to Maildir. Every line
 * of the scrape must parse (Prometheus text format 0.0.4), and the counters
 * must be exact. A reload (SIGHUP) keeps the counts, and the new plugin
 * chain's hook timings keep flowing into the same histogram.
 *
 * @module
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import process from "node:process";
import { test } from "node:test";
import { adminClient } from "./helpers/admin_api.ts";
import { type Exposition, parseExposition } from "./helpers/exposition.ts";
import { startServer } from "./helpers/server.ts";
import { transcript } from "./helpers/smtp_client.ts";
import { makeCerts, openSession, tlsConfig, waitForListeners } from "./helpers/tls.ts";

test("/metrics counts real traffic exactly, in valid exposition format, across a reload", {
  timeout: 90_000,
}, async () => {
  const certs = makeCerts();
  const server = await startServer({
    args: ["--http", "127.0.0.1:0"],
    config: `${tlsConfig(certs)}tls_listen = ["127.0.0.1:0"]\n`,
    users: ["alice@localhost:pw-alice", "bob@localhost"],
  });
  try {
    const api = await adminClient(server);
    const [, implicitPort] = await waitForListeners(server, 2);
    const scrape = async (): Promise<Exposition> => {
      const response = await api.fetch("/metrics", { auth: false });
      assert.equal(response.status, 200);
      assert.equal(
        response.headers.get("content-type"),
        "text/plain; version=0.0.4; charset=utf-8",
      );
      return parseExposition(await response.text());
    };
    const start = await scrape();
    assert.equal(start.value("postino_smtp_connections_total"), 0);
    assert.equal(start.value("postino_messages_accepted_total"), 0);

    // Session 1, plain: two messages and one unknown local recipient.
    const one = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.example
      S: 250
      C: MAIL FROM:<x@far.example>
      S: 250
      C: RCPT TO:<alice@localhost>
      S: 250
      C: RCPT TO:<nobody@localhost>
      S: 550 5.1.1
      C: DATA
      S: 354
      C: Subject: one
      C:
      C: first
      C: .
      S: 250
      C: MAIL FROM:<x@far.example>
      S: 250
      C: RCPT TO:<bob@localhost>
      S: 250
      C: DATA
      S: 354
      C: Subject: two
      C:
      C: second
      C: .
      S: 250
      C: QUIT
      S: 221
    `,
    );
    one.close();
    // Session 2: STARTTLS and AUTH, one message.
    const two = await openSession(server.port, {
      starttls: true,
      auth: { user: "alice@localhost", password: "pw-alice" },
    });
    assert.match(await two.command("MAIL FROM:<alice@localhost>"), /^250/);
    assert.match(await two.command("RCPT TO:<bob@localhost>"), /^250/);
    assert.match(await two.command("DATA"), /^354/);
    assert.match(await two.command("Subject: three\r\n\r\nthird\r\n."), /^250/);
    assert.match(await two.command("QUIT"), /^221/);
    two.close();
    // Session 3: implicit TLS (port 465 style), nothing sent.
    const tls = await openSession(implicitPort as number, { implicitTls: true });
    assert.match(await tls.command("QUIT"), /^221/);
    tls.close();
    // Session 4, plain: relaying is refused.
    const three = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.example
      S: 250
      C: MAIL FROM:<x@far.example>
      S: 250
      C: RCPT TO:<someone@elsewhere.example>
      S: 550 5.7.1
      C: QUIT
      S: 221
    `,
    );
    three.close();
    await server.settled();
    await server.waitFor(/(?:disconnect [^\n]*\n[\s\S]*){4}/);

    const m = await scrape();
    assert.equal(m.value("postino_smtp_connections_total"), 4);
    assert.equal(m.value("postino_smtp_connections"), 0);
    assert.equal(m.value("postino_smtp_sessions_total", { tls: "none" }), 2);
    assert.equal(m.value("postino_smtp_sessions_total", { tls: "starttls" }), 1);
    assert.equal(m.value("postino_smtp_sessions_total", { tls: "implicit" }), 1);
    assert.equal(m.value("postino_smtp_auth_total", { result: "success" }), 1);
    assert.equal(m.value("postino_smtp_auth_total", { result: "failure" }), 0);
    assert.equal(m.value("postino_messages_accepted_total"), 3);
    assert.equal(m.value("postino_smtp_rejects_total", { stage: "rcpt", code: "550" }), 2);
    assert.equal(
      m.all("postino_smtp_rejects_total").reduce((sum, s) => sum + s.value, 0),
      2,
    );
    assert.equal(m.value("postino_deliveries_total", { result: "delivered", route: "local" }), 3);
    assert.equal(m.value("postino_deliveries_total", { result: "deferred", route: "local" }), 0);
    assert.equal(m.value("postino_deliveries_total", { result: "bounced", route: "local" }), 0);
    assert.equal(m.value("postino_delivery_delay_seconds_count", { route: "local" }), 3);
    assert.equal(
      m.value("postino_delivery_delay_seconds_bucket", { route: "local", le: "+Inf" }),
      3,
    );
    assert.equal(m.value("postino_queue_messages"), 0);
    assert.equal(m.value("postino_queue_held_messages"), 0);
    assert.equal(m.value("postino_queue_oldest_message_age_seconds"), 0);
    const hook = (plugin: string, name: string) =>
      m.value("postino_plugin_hook_duration_seconds_count", { plugin, hook: name });
    assert.equal(hook("spool", "queue"), 3);
    assert.equal(hook("rcpt_local", "rcpt"), 5);
    assert.equal(m.types.get("postino_plugin_hook_duration_seconds"), "histogram");
    for (const [name, type] of m.types) {
      assert.ok(m.helps.get(name), `HELP for ${name}`);
      if (type === "counter") assert.match(name, /_total$/);
    }
    // The stats endpoint reads the same counters.
    const stats = await api.json<{ totals: Record<string, number> }>("GET", "/api/stats");
    assert.deepEqual(stats.body.totals, {
      connections: 4,
      accepted: 3,
      rejected: 2,
      delivered: 3,
      deferred: 0,
      bounced: 0,
    });

    // A reload builds a new plugin chain; the counts carry on.
    process.kill(server.child.pid as number, "SIGHUP");
    await server.waitFor(/ reloaded /);
    const four = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.example
      S: 250
      C: MAIL FROM:<x@far.example>
      S: 250
      C: RCPT TO:<alice@localhost>
      S: 250
      C: DATA
      S: 354
      C: Subject: four
      C:
      C: fourth
      C: .
      S: 250
      C: QUIT
      S: 221
    `,
    );
    four.close();
    await server.settled();
    const later = await scrape();
    assert.equal(later.value("postino_messages_accepted_total"), 4);
    assert.equal(later.value("postino_smtp_connections_total"), 5);
    assert.equal(
      later.value("postino_plugin_hook_duration_seconds_count", { plugin: "spool", hook: "queue" }),
      4,
    );
    assert.equal(
      later.value("postino_deliveries_total", { result: "delivered", route: "local" }),
      4,
    );
  } finally {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
    rmSync(certs.dir, { recursive: true, force: true });
  }
});
