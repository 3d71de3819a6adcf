/**
 * Relaying to real remote MTAs: Postfix's smtp-sink as the smart host and as
 * MX hosts that a real DNS server (dnsmasq) names, checked byte for byte.
 * Everything listens on loopback (127.x) and every process started here is
 * stopped by its PID.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startDns } from "./helpers/dns.ts";
import { maildirMessages, parseReport } from "./helpers/remote_report.ts";
import {
  assertSameApartFromReceived,
  freePort,
  HAVE_DNSMASQ,
  HAVE_SINK,
  listening,
  parseDump,
  sendMail,
  startCountingProxy,
  startSink,
  until,
} from "./helpers/remote_sink.ts";
import { postino, startServer } from "./helpers/server.ts";

const HOSTNAME = "postino.test";
const TRUSTED = `hostname = "${HOSTNAME}"\nrelay_networks = ["127.0.0.1/32"]\n`;

/** A message with lines that need dot-stuffing and a long line. */
function sample(tag: string, to: string): string {
  return [
    "From: Alice <alice@localhost>",
    `To: ${to}`,
    `Subject: relay ${tag}`,
    `Message-ID: <${tag}@localhost>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    `Hello from ${tag}.`,
    ".a line that starts with a dot",
    "..and one with two",
    ".",
    "x".repeat(990),
    "",
    "last line",
    "",
  ].join("\r\n");
}

const logLines = (output: string, event: string, id: string) =>
  output.split("\n").filter((l) => l.includes(` ${event} `) && l.includes(`id=${id}`));

test(
  "relay_host smtp-sink: relayed mail arrives byte-exact, envelope kept, one transaction per domain",
  {
    skip: !HAVE_SINK,
    timeout: 60_000,
  },
  async () => {
    const sink = await startSink();
    const proxy = await startCountingProxy(sink);
    const server = await startServer({
      config: `${TRUSTED}relay_host = "127.0.0.1:${proxy.port}"\n`,
    });
    try {
      const first = sample("one", "a@remote.test, b@remote.test, c@remote.test");
      const sent = await sendMail(server.port, {
        from: "alice@localhost",
        to: ["a@remote.test", "b@remote.test", "c@remote.test"],
        data: first,
      });
      assert.deepEqual(sent.rcpt.map((r) => r.slice(0, 9)), [
        "250 2.1.5",
        "250 2.1.5",
        "250 2.1.5",
      ]);
      assert.ok(sent.id, sent.final);
      await server.settled(20_000);
      const [dump] = (await sink.waitDumps(1)).map(parseDump);
      assert.ok(dump);
      // One transaction for the three recipients of one domain, envelope kept.
      assert.match(dump.mailArgs, /^<alice@localhost>/);
      assert.deepEqual(dump.rcptArgs.map((r) => r.split(" ")[0]), [
        "<a@remote.test>",
        "<b@remote.test>",
        "<c@remote.test>",
      ]);
      assertSameApartFromReceived(dump.message, first, { lf: true, hostname: HOSTNAME });
      assert.equal(logLines(server.output(), "delivered", sent.id).length, 3);
      assert.equal(proxy.connections, 1);

      // A second message to the same host, within the keep-alive time, goes
      // over the same connection.
      const second = sample("two", "d@remote.test");
      const again = await sendMail(server.port, { from: "", to: ["d@remote.test"], data: second });
      assert.ok(again.id);
      await server.settled(20_000);
      const dumps = (await sink.waitDumps(2)).map(parseDump);
      const d2 = dumps.find((d) => d.rcptArgs[0]?.startsWith("<d@remote.test>"));
      assert.ok(d2, JSON.stringify(dumps));
      assert.match(d2.mailArgs, /^<>/);
      assertSameApartFromReceived(d2.message, second, { lf: true, hostname: HOSTNAME });
      assert.equal(logLines(server.output(), "smtp_session", again.id).length, 1);
      assert.equal(proxy.connections, 1, "the second message opened a new connection");
    } finally {
      await server.stop();
      await proxy.close();
      await sink.stop();
    }
  },
);

test("untrusted client: relaying gets 550 5.7.1 and nothing is sent", {
  skip: !HAVE_SINK,
  timeout: 60_000,
}, async () => {
  const sink = await startSink();
  const server = await startServer({
    config: `hostname = "${HOSTNAME}"\nrelay_host = "127.0.0.1:${sink.port}"\n`,
    users: ["alice@localhost"],
  });
  try {
    const sent = await sendMail(server.port, {
      from: "alice@localhost",
      to: ["a@remote.test", "alice@localhost"],
      data: sample("local", "a@remote.test"),
    });
    assert.match(sent.rcpt[0] ?? "", /^550 5\.7\.1 /);
    assert.match(sent.rcpt[1] ?? "", /^250 /);
    assert.ok(sent.id);
    await server.settled(20_000);
    // The local copy arrives; the remote one was never accepted.
    assert.equal(maildirMessages(server.dataDir, "alice@localhost").length, 1);
    assert.doesNotMatch(
      server.output(),
      / (delivered|deferred|failed|smtp_session) .*remote\.test/,
    );
    const listed = await postino(["queue", "list", "--json", "--data-dir", server.dataDir]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), []);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(sink.dumps(), []);
  } finally {
    await server.stop();
    await sink.stop();
  }
});

test("MX via dnsmasq: delivery to the MX host, fallback past a dead preferred MX", {
  skip: !HAVE_SINK || !HAVE_DNSMASQ,
  timeout: 60_000,
}, async () => {
  const port = await freePort("127.0.0.2");
  assert.ok(!await listening("127.0.0.3", port), "something listens on 127.0.0.3");
  const dns = await startDns([
    "--mx-host=example.test,mx.example.test,10",
    "--host-record=mx.example.test,127.0.0.2",
    // The preferred MX is down (nothing on 127.0.0.3), the second one works.
    "--mx-host=backup.test,dead.backup.test,5",
    "--mx-host=backup.test,mx2.backup.test,20",
    "--host-record=dead.backup.test,127.0.0.3",
    "--host-record=mx2.backup.test,127.0.0.2",
  ]);
  const sink = await startSink({ host: "127.0.0.2", port });
  const server = await startServer({
    config: `${TRUSTED}dns_server = "${dns.server}"\nsmtp_port = ${port}\n`,
  });
  try {
    const viaMx = sample("mx", "bob@example.test");
    const one = await sendMail(server.port, {
      from: "alice@localhost",
      to: ["bob@example.test"],
      data: viaMx,
    });
    assert.ok(one.id);
    await server.settled(20_000);
    const [d1] = (await sink.waitDumps(1)).map(parseDump);
    assert.ok(d1);
    assert.deepEqual(d1.rcptArgs.map((r) => r.split(" ")[0]), ["<bob@example.test>"]);
    assertSameApartFromReceived(d1.message, viaMx, { lf: true, hostname: HOSTNAME });
    assert.match(logLines(server.output(), "delivered", one.id)[0] ?? "", /host=mx\.example\.test/);

    const viaBackup = sample("backup", "carol@backup.test");
    const two = await sendMail(server.port, {
      from: "alice@localhost",
      to: ["carol@backup.test"],
      data: viaBackup,
    });
    assert.ok(two.id);
    await server.settled(20_000);
    const dumps = (await sink.waitDumps(2)).map(parseDump);
    const d2 = dumps.find((d) => d.rcptArgs[0]?.startsWith("<carol@backup.test>"));
    assert.ok(d2, JSON.stringify(dumps));
    assertSameApartFromReceived(d2.message, viaBackup, { lf: true, hostname: HOSTNAME });
    const output = server.output();
    assert.match(logLines(output, "delivered", two.id)[0] ?? "", /host=mx2\.backup\.test/);
    assert.match(logLines(output, "smtp_hop_failed", two.id)[0] ?? "", /host=dead\.backup\.test/);
  } finally {
    await server.stop();
    await sink.stop();
    await dns.stop();
  }
});

test("MX via dnsmasq: null MX bounces with 5.1.10, NXDOMAIN with 5.1.2", {
  skip: !HAVE_DNSMASQ,
  timeout: 60_000,
}, async () => {
  const dns = await startDns(["--mx-host=nullmx.test,.,0"]);
  const server = await startServer({
    config: `${TRUSTED}dns_server = "${dns.server}"\nsmtp_port = ${await freePort()}\n`,
    users: ["alice@localhost"],
  });
  try {
    const cases = [
      { to: "x@nullmx.test", status: "5.1.10", code: "556" },
      { to: "y@nxdomain.test", status: "5.1.2", code: "550" },
    ];
    for (const { to, status, code } of cases) {
      const before = maildirMessages(server.dataDir, "alice@localhost").length;
      const sent = await sendMail(server.port, {
        from: "alice@localhost",
        to: [to],
        data: sample(`dns-${status}`, to),
      });
      assert.ok(sent.id);
      await server.settled(20_000);
      const failed = logLines(server.output(), "failed", sent.id);
      assert.equal(failed.length, 1, server.output());
      assert.match(
        failed[0] as string,
        new RegExp(`code=${code} status=${status.replaceAll(".", "\\.")}`),
      );
      assert.match(server.output(), new RegExp(`bounce id=${sent.id} .*to=alice@localhost`));
      const inbox = await until("the bounce in alice's Maildir", () => {
        const all = maildirMessages(server.dataDir, "alice@localhost");
        return all.length > before ? all : undefined;
      });
      assert.equal(inbox.length, before + 1);
      const report = parseReport(inbox[inbox.length - 1] as string);
      const [rcpt] = report.perRecipient;
      assert.equal(rcpt?.get("final-recipient"), `rfc822; ${to}`);
      assert.equal(rcpt?.get("action"), "failed");
      assert.equal(rcpt?.get("status"), status);
      // Nothing answered: no remote MTA to name.
      assert.equal(rcpt?.get("remote-mta"), undefined);
    }
  } finally {
    await server.stop();
    await dns.stop();
  }
});

test("remote down: the message stays deferred, then queue flush delivers it", {
  skip: !HAVE_SINK,
  timeout: 60_000,
}, async () => {
  const port = await freePort();
  const server = await startServer({
    config: `${TRUSTED}relay_host = "127.0.0.1:${port}"\nretry_initial = 3600\n`,
  });
  let sink: Awaited<ReturnType<typeof startSink>> | undefined;
  try {
    const message = sample("down", "dave@remote.test");
    const sent = await sendMail(server.port, {
      from: "alice@localhost",
      to: ["dave@remote.test"],
      data: message,
    });
    const id = sent.id as string;
    assert.ok(id);
    await server.settled(20_000);
    assert.equal(logLines(server.output(), "deferred", id).length, 1, server.output());
    const listed = await postino(["queue", "list", "--json", "--data-dir", server.dataDir]);
    assert.equal(listed.code, 0, listed.stderr);
    const queue = JSON.parse(listed.stdout) as {
      id: string;
      recipients: {
        address: string;
        state: string;
        attempts: number;
        nextAttempt: string;
        lastError: string | null;
      }[];
    }[];
    assert.equal(queue.length, 1);
    assert.equal(queue[0]?.id, id);
    const [r] = queue[0]?.recipients ?? [];
    assert.equal(r?.address, "dave@remote.test");
    // A deferred recipient is back in state "queued", with its attempt counted.
    assert.equal(r?.state, "queued");
    assert.equal(r?.attempts, 1);
    assert.match(r?.lastError ?? "", /^4\d\d 4\.\d+\.\d+ /, "no last error in the queue listing");

    sink = await startSink({ port });
    const flushed = await postino(["queue", "flush", "--data-dir", server.dataDir]);
    assert.equal(flushed.code, 0, flushed.stderr);
    // The server polls the spool every 5 s.
    await server.waitFor(new RegExp(` delivered id=${id} `), 15_000);
    const [dump] = (await sink.waitDumps(1)).map(parseDump);
    assert.ok(dump);
    assertSameApartFromReceived(dump.message, message, { lf: true, hostname: HOSTNAME });
    const after = await postino(["queue", "list", "--json", "--data-dir", server.dataDir]);
    assert.deepEqual(JSON.parse(after.stdout), []);
  } finally {
    await server.stop();
    await sink?.stop();
  }
});
