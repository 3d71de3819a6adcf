/**
 * The queue API on the real server, with Postfix's smtp-sink as the smart
 * host: messages deferred while the remote is down are listed, filtered,
 * read, held, deleted, and delivered at once by a flush once it is up, long
 * before their retry time (an hour). A held message stays put through a
 * flush; a deleted one is never delivered or bounced.
 *
 * @module
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { adminClient } from "./helpers/admin_api.ts";
import { freePort, HAVE_SINK, sendMail, type Sink, startSink } from "./helpers/remote_sink.ts";
import { postino, startServer } from "./helpers/server.ts";

const TRUSTED = `hostname = "mx.postino.test"\nrelay_networks = ["127.0.0.1/32"]\n`;

interface Listed {
  id: string;
  sender: string;
  size: number;
  receivedAt: string;
  ageSeconds: number;
  held: boolean;
  recipients: {
    address: string;
    state: string;
    attempts: number;
    nextAttempt: string;
    lastError: string | null;
  }[];
}

test("queue API: list, filter, read, hold, delete, and flush delivers at once", {
  skip: !HAVE_SINK,
  timeout: 90_000,
}, async () => {
  const port = await freePort();
  const server = await startServer({
    args: ["--http", "127.0.0.1:0"],
    config: `${TRUSTED}relay_host = "127.0.0.1:${port}"\nretry_initial = 3600\n`,
  });
  let sink: Sink | undefined;
  try {
    const api = await adminClient(server);
    const ids: string[] = [];
    for (
      const [n, to] of [[1, "dave@remote.test"], [2, "erin@remote.test"], [3, "finn@other.test"], [
        4,
        "gail@remote.test",
      ]] as const
    ) {
      const sent = await sendMail(server.port, {
        from: n === 1 ? "Alice@Sender.test" : "bob@sender.test",
        to: [to],
        data: `Subject: queued ${n}\r\nMessage-ID: <m${n}@sender.test>\r\n\r\nbody ${n}\r\n`,
      });
      assert.ok(sent.id, sent.final);
      ids.push(sent.id);
    }
    const [m1, m2, m3, m4] = ids as [string, string, string, string];
    await server.settled(30_000);

    // The list: every message deferred once, with its last error.
    const list = await api.json<{ total: number; messages: Listed[] }>("GET", "/api/queue");
    assert.equal(list.status, 200);
    assert.equal(list.body.total, 4);
    assert.deepEqual(list.body.messages.map((m) => m.id).sort(), [...ids].sort());
    for (const m of list.body.messages) {
      const [r] = m.recipients;
      assert.equal(r?.state, "queued");
      assert.equal(r?.attempts, 1);
      assert.match(r?.lastError ?? "", /^4\d\d 4\.\d+\.\d+ /);
      // The retry is an hour away.
      assert.ok(Date.parse(r?.nextAttempt ?? "") - Date.now() > 30 * 60_000);
    }
    // The same listing as `postino queue list --json` (the shared JSON shape).
    const cli = await postino(["queue", "list", "--json", "--data-dir", server.dataDir]);
    const strip = (ms: Listed[]) =>
      ms.map(({ ageSeconds: _, ...rest }) => rest).sort((a, b) => a.id < b.id ? -1 : 1);
    assert.deepEqual(strip(JSON.parse(cli.stdout)), strip(list.body.messages));

    // Filters and paging.
    const filtered = async (query: string) =>
      (await api.json<{ total: number; messages: Listed[] }>("GET", `/api/queue?${query}`)).body;
    assert.deepEqual((await filtered("sender=ALICE")).messages.map((m) => m.id), [m1]);
    assert.equal((await filtered("recipient=remote.TEST")).total, 3);
    assert.deepEqual((await filtered("domain=other.test")).messages.map((m) => m.id), [m3]);
    assert.equal((await filtered("state=deferred")).total, 4);
    assert.equal((await filtered("state=queued")).total, 0);
    // `leased` is the spool's word for `delivering`: both are accepted.
    assert.equal(
      (await filtered("state=leased")).total,
      (await filtered("state=delivering")).total,
    );
    const page = await filtered("limit=2&offset=1");
    assert.equal(page.total, 4);
    assert.equal(page.messages.length, 2);
    for (const bad of ["state=nope", "limit=-1", "offset=x"]) {
      assert.equal((await api.json("GET", `/api/queue?${bad}`)).status, 400, bad);
    }

    // One message: its header fields, attempt log and source.
    const one = await api.json<Record<string, unknown>>("GET", `/api/queue/${m1}`);
    assert.equal(one.status, 200);
    assert.equal(one.body["sender"], "Alice@sender.test"); // the domain is lower-cased
    const headers = one.body["headers"] as { name: string; value: string }[];
    assert.ok(headers.some((h) => h.name === "Subject" && h.value === "queued 1"));
    assert.ok(headers.some((h) => h.name === "Received"));
    const attempts = one.body["attempts"] as { address: string; status: string; detail: string }[];
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]?.address, "dave@remote.test");
    assert.equal(attempts[0]?.status, "deferred");
    const raw = await api.fetch(`/api/queue/${m1}/raw`);
    assert.equal(raw.headers.get("content-type"), "message/rfc822");
    const source = await raw.text();
    assert.match(source, /^Received: /);
    assert.match(
      source,
      /\r\nSubject: queued 1\r\nMessage-ID: <m1@sender\.test>\r\n\r\nbody 1\r\n$/,
    );
    assert.equal((await api.json("GET", "/api/queue/0000NOPE")).status, 404);
    assert.equal((await api.json("GET", "/api/queue/bad%20id")).status, 400);

    // Hold m1, delete m4.
    assert.deepEqual(await api.json("POST", `/api/queue/${m1}/hold`), {
      status: 200,
      body: { id: m1, held: true },
    });
    assert.deepEqual((await filtered("state=held")).messages.map((m) => m.id), [m1]);
    assert.equal((await filtered("state=deferred")).total, 3);
    assert.deepEqual(await api.json("DELETE", `/api/queue/${m4}`), {
      status: 200,
      body: { deleted: m4 },
    });
    assert.equal((await api.json("GET", `/api/queue/${m4}`)).status, 404);
    assert.equal((await api.json("DELETE", `/api/queue/${m4}`)).status, 404);

    // Bad requests.
    const text = await api.fetch("/api/queue/flush", {
      method: "POST",
      body: "all",
      headers: { "content-type": "text/plain" },
    });
    assert.equal(text.status, 415);
    await text.body?.cancel();
    assert.equal(
      (await api.json("POST", "/api/queue/flush", { domain: "not a domain" })).status,
      400,
    );
    assert.equal((await api.json("POST", "/api/queue/flush", { everything: true })).status, 400);
    const put = await api.fetch("/api/queue", { method: "PUT" });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get("allow"), "GET");
    await put.body?.cancel();
    assert.equal((await api.json("GET", `/api/queue/${m1}/hold`)).status, 405);

    // The remote comes up. Flushing one message delivers it now, not in an hour.
    sink = await startSink({ port });
    assert.deepEqual(await api.json("POST", `/api/queue/${m2}/flush`), {
      status: 200,
      body: { flushed: 1 },
    });
    await server.waitFor(new RegExp(` delivered id=${m2} `), 20_000);
    assert.equal((await sink.waitDumps(1)).length, 1);

    // Flushing a domain: the only message left at remote.test is m1, held,
    // so it is made due but stays put.
    assert.deepEqual(await api.json("POST", "/api/queue/flush", { domain: "Remote.Test" }), {
      status: 200,
      body: { flushed: 1 },
    });
    // Flushing everything: m3 goes, and m1 stays held, though both are due
    // and one spool lease takes every due message that is not held.
    assert.deepEqual(await api.json("POST", "/api/queue/flush"), {
      status: 200,
      body: { flushed: 2 },
    });
    await server.waitFor(new RegExp(` delivered id=${m3} `), 20_000);
    // `attempted` comes once the outcome is recorded (and the message gone).
    await server.waitFor(new RegExp(` attempted id=${m3} delivered=1`));
    const left = await api.json<{ total: number; messages: Listed[] }>("GET", "/api/queue");
    assert.deepEqual(left.body.messages.map((m) => [m.id, m.held, m.recipients[0]?.attempts]), [
      [m1, true, 1],
    ]);
    assert.doesNotMatch(server.output(), new RegExp(` delivered id=${m1} `));

    // Released, m1 goes at once (the flush already made it due).
    assert.deepEqual(await api.json("POST", `/api/queue/${m1}/release`), {
      status: 200,
      body: { id: m1, held: false },
    });
    await server.waitFor(new RegExp(` delivered id=${m1} `), 20_000);
    await server.waitFor(new RegExp(` attempted id=${m1} delivered=1`));
    const dumps = await sink.waitDumps(3);
    assert.equal(dumps.length, 3);
    assert.deepEqual((await api.json("GET", "/api/queue")).body, { total: 0, messages: [] });
    // The deleted message was neither delivered nor bounced.
    assert.ok(!dumps.some((d) => d.includes("queued 4")));
    assert.doesNotMatch(server.output(), new RegExp(` (delivered|failed|bounce) id=${m4} `));
  } finally {
    await server.stop();
    await sink?.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
});
