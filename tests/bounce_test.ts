/**
 * Per-recipient results from a real (scripted) remote over the wire, and the
 * RFC 3464 reports that come back to a local sender's Maildir: 250 delivers,
 * 451 defers and recovers on retry, 550 bounces, RET=FULL returns the whole
 * message, NOTIFY=NEVER and `<>` senders get no report, and a message that
 * stays deferred past max_queue_lifetime bounces as expired (4.4.7).
 * Everything listens on loopback and every process is stopped by its PID.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { maildirMessages, parseReport, type Report } from "./helpers/remote_report.ts";
import { startScriptedRemote } from "./helpers/remote_script.ts";
import { sendMail, sleep, splitReceived, until } from "./helpers/remote_sink.ts";
import { postino, type RunningServer, startServer } from "./helpers/server.ts";

const HOSTNAME = "postino.test";
const ALICE = "alice@localhost";
const BAD_REPLY = "550 5.1.1 <bad@remote.test>: Recipient address rejected: no such user here";
const LATER_REPLY = "451 4.3.0 <later@remote.test>: greylisted, try again later";

/** ok@ 250, later@ 451 (until `laterOk`), bad@ 550, slow@ always 451. */
function rules(state: { laterOk: boolean }) {
  return (address: string): string => {
    const local = address.slice(0, address.lastIndexOf("@")).toLowerCase();
    if (local === "bad") return BAD_REPLY;
    if (local === "later" && !state.laterOk) return LATER_REPLY;
    if (local === "slow") return "451 4.3.0 <slow@remote.test>: temporarily unavailable";
    return "250 2.1.5 Ok";
  };
}

function sample(tag: string): string {
  return [
    `From: Alice <${ALICE}>`,
    "To: ok@remote.test, later@remote.test, bad@remote.test",
    `Subject: bounce test ${tag}`,
    `Message-ID: <${tag}@localhost>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    `Body of ${tag}: caf\u00e9 in UTF-8.`,
    ".a line that starts with a dot",
    "",
    "the end",
    "",
  ].join("\r\n");
}

/** The bytes of `text` as the server got them (UTF-8), seen as latin1 like the Maildir reader. */
const latin1 = (text: string) => Buffer.from(text, "utf8").toString("latin1");

const lines = (server: RunningServer, event: string, id: string) =>
  server.output().split("\n").filter((l) => l.includes(` ${event} `) && l.includes(`id=${id}`));

function config(remotePort: number, extra = ""): string {
  return `hostname = "${HOSTNAME}"\nrelay_networks = ["127.0.0.1/32"]\n` +
    `relay_host = "127.0.0.1:${remotePort}"\n${extra}`;
}

/** Waits for `count` messages in alice's Maildir. */
function inbox(server: RunningServer, count: number): Promise<string[]> {
  return until(`${count} message(s) in ${ALICE}'s Maildir`, () => {
    const all = maildirMessages(server.dataDir, ALICE);
    return all.length >= count ? all : undefined;
  });
}

/** The report's one per-recipient group, checked against the basics. */
function onlyRecipient(report: Report, address: string): Map<string, string> {
  assert.equal(report.perRecipient.length, 1, JSON.stringify([...report.perRecipient]));
  const [group] = report.perRecipient;
  assert.ok(group);
  assert.equal(group.get("final-recipient"), `rfc822; ${address}`);
  return group;
}

test("scripted remote: 250 delivered byte-exact, 550 bounced once to the sender, 451 recovered", {
  timeout: 60_000,
}, async () => {
  const state = { laterOk: false };
  const remote = await startScriptedRemote(rules(state));
  const server = await startServer({
    config: config(remote.port, "retry_initial = 1\nretry_max = 2\n"),
    users: [ALICE],
  });
  try {
    const original = sample("mixed");
    const sent = await sendMail(server.port, {
      from: ALICE,
      mailParams: "BODY=8BITMIME",
      to: ["ok@remote.test", "later@remote.test", "bad@remote.test"],
      data: original,
    });
    const id = sent.id as string;
    assert.ok(id, sent.final);
    await server.waitFor(new RegExp(` attempted id=${id} delivered=1 deferred=1 failed=1`), 20_000);

    // ok@: one transaction with it alone, byte-exact apart from Received:.
    const [first] = remote.transactions;
    assert.ok(first);
    assert.match(first.mail, /^MAIL FROM:<alice@localhost>( |$)/);
    assert.deepEqual(first.recipients, ["ok@remote.test"]);
    const arrived = Buffer.from(first.data).toString("latin1");
    const { received, rest } = splitReceived(arrived);
    assert.equal(received.length, 1, arrived);
    assert.match(received[0] as string, new RegExp(`by ${HOSTNAME.replace(".", "\\.")}`));
    assert.equal(rest, latin1(original));

    const out = (event: string, to: string) =>
      lines(server, event, id).filter((l) => l.includes(`to=${to}`));
    assert.equal(out("delivered", "ok@remote.test").length, 1);
    assert.match(out("deferred", "later@remote.test")[0] ?? "", /code=451 status=4\.3\.0/);
    assert.match(out("failed", "bad@remote.test")[0] ?? "", /code=550 status=5\.1\.1/);

    // bad@: exactly one report in alice's Maildir.
    const [bounce] = await inbox(server, 1);
    assert.ok(bounce);
    assert.equal(lines(server, "bounce", id).length, 1);
    assert.match(lines(server, "bounce", id)[0] as string, /to=alice@localhost/);
    const report = parseReport(bounce);
    assert.match(report.message.get("return-path") ?? "", /^<>$/);
    assert.match(report.message.get("subject") ?? "", /Undelivered/i);
    assert.equal(report.perMessage.get("reporting-mta"), `dns; ${HOSTNAME}`);
    const group = onlyRecipient(report, "bad@remote.test");
    assert.equal(group.get("action"), "failed");
    assert.equal(group.get("status"), "5.1.1");
    assert.equal(group.get("remote-mta"), "dns; 127.0.0.1");
    assert.equal(group.get("diagnostic-code"), `smtp; ${BAD_REPLY}`);
    // The readable part names the recipient and the remote's words.
    assert.match(report.text.body, /bad@remote\.test/);
    assert.match(
      report.text.body.replace(/\s+/g, " "),
      /550 5\.1\.1 <bad@remote\.test>: Recipient address rejected: no such user here/,
    );
    // The original headers come back, without the body.
    assert.match(report.returned.get("content-type") ?? "", /^text\/rfc822-headers/i);
    const returned = report.returned.body;
    assert.ok(returned.includes(`Subject: bounce test mixed\r\n`), returned);
    assert.ok(returned.includes(`Message-ID: <mixed@localhost>\r\n`), returned);
    assert.ok(!returned.includes("the end"), returned);

    // later@: the remote changes its mind; the retry (retry_initial = 1) delivers it.
    state.laterOk = true;
    await server.waitFor(new RegExp(` delivered id=${id} to=later@remote\\.test`), 20_000);
    const retried = remote.transactions.find((t) => t.recipients.includes("later@remote.test"));
    assert.ok(retried);
    assert.deepEqual(retried.recipients, ["later@remote.test"]);
    assert.deepEqual(retried.data, first.data);
    assert.ok(remote.rcpts.filter(([a]) => a === "later@remote.test").length >= 2);
    assert.equal(remote.rcpts.filter(([a]) => a === "bad@remote.test").length, 1);
    assert.equal(remote.rcpts.filter(([a]) => a === "ok@remote.test").length, 1);
    await server.settled(20_000);
    // Still one report: the recovery sends nothing back.
    await sleep(300);
    assert.equal(maildirMessages(server.dataDir, ALICE).length, 1);
    assert.equal(lines(server, "bounce", id).length, 1);
    const listed = await postino(["queue", "list", "--json", "--data-dir", server.dataDir]);
    assert.deepEqual(JSON.parse(listed.stdout), []);
  } finally {
    await server.stop();
    await remote.close();
  }
});

test("scripted remote: RET=FULL returns the whole original message", {
  timeout: 60_000,
}, async () => {
  const remote = await startScriptedRemote(rules({ laterOk: true }));
  const server = await startServer({ config: config(remote.port), users: [ALICE] });
  try {
    const original = sample("full");
    const sent = await sendMail(server.port, {
      from: ALICE,
      mailParams: "BODY=8BITMIME RET=FULL ENVID=env-full-1",
      to: ["bad@remote.test"],
      data: original,
    });
    const id = sent.id as string;
    assert.ok(id, sent.final);
    const [bounce] = await inbox(server, 1);
    assert.ok(bounce);
    const report = parseReport(bounce);
    assert.equal(report.perMessage.get("original-envelope-id"), "env-full-1");
    const group = onlyRecipient(report, "bad@remote.test");
    assert.equal(group.get("status"), "5.1.1");
    assert.equal(group.get("diagnostic-code"), `smtp; ${BAD_REPLY}`);
    assert.match(report.returned.get("content-type") ?? "", /^message\/rfc822/i);
    // The whole message as queued: Postino's Received: and then every byte sent.
    const { received, rest } = splitReceived(report.returned.body);
    assert.equal(received.length, 1);
    assert.equal(rest, latin1(original));
    assert.equal(remote.transactions.length, 0);
  } finally {
    await server.stop();
    await remote.close();
  }
});

test("scripted remote: no report for NOTIFY=NEVER, nor for a message from <>", {
  timeout: 60_000,
}, async () => {
  const remote = await startScriptedRemote(rules({ laterOk: true }));
  const server = await startServer({ config: config(remote.port), users: [ALICE] });
  try {
    const never = await sendMail(server.port, {
      from: ALICE,
      to: ["bad@remote.test NOTIFY=NEVER", "ok@remote.test"],
      data: sample("never"),
    });
    const fromNull = await sendMail(server.port, {
      from: "",
      to: ["bad@remote.test"],
      data: sample("null-sender"),
    });
    assert.ok(never.id && fromNull.id);
    await server.settled(20_000);
    for (const id of [never.id, fromNull.id]) {
      assert.match(
        lines(server, "failed", id)[0] ?? "",
        /to=bad@remote\.test code=550 status=5\.1\.1/,
      );
      assert.deepEqual(lines(server, "bounce", id), []);
    }
    assert.equal(lines(server, "delivered", never.id).length, 1);
    await sleep(500);
    assert.doesNotMatch(server.output(), / bounce /);
    assert.deepEqual(maildirMessages(server.dataDir, ALICE), []);
    const listed = await postino(["queue", "list", "--json", "--data-dir", server.dataDir]);
    assert.deepEqual(JSON.parse(listed.stdout), []);
  } finally {
    await server.stop();
    await remote.close();
  }
});

/** Sends to slow@ (always 451) with max_queue_lifetime = 2 and returns the report alice gets. */
async function expire(
  check: (report: Report, server: RunningServer, id: string) => void | Promise<void>,
): Promise<void> {
  const remote = await startScriptedRemote(rules({ laterOk: false }));
  const server = await startServer({
    config: config(remote.port, "retry_initial = 1\nretry_max = 1\nmax_queue_lifetime = 2\n"),
    users: [ALICE],
  });
  try {
    const sent = await sendMail(server.port, {
      from: ALICE,
      to: ["slow@remote.test"],
      data: sample("expire"),
    });
    const id = sent.id as string;
    assert.ok(id);
    await server.waitFor(new RegExp(` failed id=${id} to=slow@remote\\.test `), 30_000);
    assert.ok(lines(server, "deferred", id).length >= 1, server.output());
    assert.ok(remote.rcpts.length >= 2, `only ${remote.rcpts.length} attempt(s)`);
    assert.equal(remote.transactions.length, 0);
    const [bounce] = await inbox(server, 1);
    assert.ok(bounce);
    await server.settled(20_000);
    await check(parseReport(bounce), server, id);
  } finally {
    await server.stop();
    await remote.close();
  }
}

test("scripted remote: always 451 past max_queue_lifetime bounces as expired (4.4.7)", {
  timeout: 60_000,
}, async () => {
  await expire(async (report, server, id) => {
    assert.match(lines(server, "failed", id)[0] as string, /status=4\.4\.7/);
    const group = onlyRecipient(report, "slow@remote.test");
    assert.equal(group.get("action"), "failed");
    assert.equal(group.get("status"), "4.4.7");
    assert.equal(group.get("remote-mta"), "dns; 127.0.0.1");
    // Nothing is left in the queue, and the report went out once.
    const listed = await postino(["queue", "list", "--json", "--data-dir", server.dataDir]);
    assert.deepEqual(JSON.parse(listed.stdout), []);
    assert.equal(lines(server, "bounce", id).length, 1);
  });
});

// BUG (core/queue/scheduler.ts + core/queue/bouncer.ts): on expiry the
// scheduler rewrites the last outcome to enhanced "4.4.7" and text "Message
// expired; last error: …", and the bouncer writes that as the remote's reply,
// so the report says `Diagnostic-Code: smtp; 451 4.4.7 Message expired; last
// error: <slow@remote.test>: temporarily unavailable`: a reply the remote never
// gave, and its real enhanced code (4.3.0) is lost. RFC 3464 §2.3.6: the
// Diagnostic-Code is the actual code the remote MTA issued.
test("scripted remote: an expiry report's Diagnostic-Code is the remote's real last reply", {
  timeout: 60_000,
}, async () => {
  await expire((report) => {
    const group = onlyRecipient(report, "slow@remote.test");
    assert.equal(
      group.get("diagnostic-code"),
      "smtp; 451 4.3.0 <slow@remote.test>: temporarily unavailable",
      "BUG: the expiry report's Diagnostic-Code must be the remote's own last reply, " +
        "not Postino's 4.4.7 'Message expired' text presented as the remote's words",
    );
  });
});
