/**
 * Graceful shutdown (SIGTERM) of the real server process, beyond what
 * signals_test.ts covers (one idle client; one DATA transfer in flight):
 * sessions waiting in any state get 421 4.3.2, BDAT in flight finishes like
 * DATA, the shutdown grace bounds a client that never finishes, and the
 * queue is the same after a restart: nothing accepted with 250 is lost or
 * delivered twice, whether its delivery was pending, in progress or stuck.
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient } from "./helpers/smtp_client.ts";
import {
  exitWithin,
  expectReply,
  maildirFiles,
  queuedId,
  queueIds,
  queueList,
  scratchDirs,
  sendSignal,
  stopWithin,
} from "./helpers/lifecycle.ts";
import {
  freePort,
  HAVE_SINK,
  sendMail,
  type Sink,
  sleep,
  startSink,
} from "./helpers/remote_sink.ts";
import { startHoldingProxy, startSilentRemote } from "./helpers/slow_remote.ts";

const TIMEOUT = { timeout: 90_000 };
/** How long a server may take to exit once it should (a hang fails the test instead). */
const EXIT_BOUND_MS = 30_000;
const { start } = scratchDirs();

/** Connects, reads the greeting and opens a transaction to `rcpt` (EHLO, MAIL, RCPT). */
async function openTransaction(port: number, rcpt: string): Promise<RawClient> {
  const client = await RawClient.connect(port);
  await expectReply(client, "220");
  await client.send("EHLO client.example");
  await expectReply(client, "250");
  await client.send("MAIL FROM:<sender@localhost>");
  await expectReply(client, "250 2.1.0");
  await client.send(`RCPT TO:<${rcpt}>`);
  await expectReply(client, "250 2.1.5");
  return client;
}

/** `BDAT n` (with LAST when `last`) and its chunk, as one string. */
function bdat(chunk: string, last: boolean): string {
  return `BDAT ${chunk.length}${last ? " LAST" : ""}\r\n${chunk}`;
}

/**
 * Makes sure each message in `ids` sits in `address`'s Maildir of a stopped
 * server: delivery runs from the spool after the 250, so a message the
 * first process did not deliver before it exited must be delivered by the
 * next start on the same data dir. Returns the Maildir files.
 */
async function deliveredAfterRestart(
  dataDir: string,
  address: string,
  ids: string[],
): Promise<string[]> {
  const missing = ids.filter((id) =>
    !maildirFiles(dataDir, address).some((file) => readFileSync(file, "latin1").includes(id))
  );
  if (missing.length > 0) {
    const again = await startServer({ dataDir });
    try {
      for (const id of missing) {
        await again.waitFor(new RegExp(` delivered id=${id} to=${address}\\b`));
      }
    } finally {
      assert.equal(await stopWithin(again), 0);
    }
  }
  return maildirFiles(dataDir, address);
}

test(
  "SIGTERM gives 421 4.3.2 to sessions waiting before EHLO, after EHLO and after RCPT, and queues nothing",
  TIMEOUT,
  async () => {
    const server = await start({ users: ["alice@localhost"] });
    const clients: RawClient[] = [];
    try {
      const fresh = await RawClient.connect(server.port);
      clients.push(fresh);
      await expectReply(fresh, "220");
      const greeted = await RawClient.connect(server.port);
      clients.push(greeted);
      await expectReply(greeted, "220");
      await greeted.send("EHLO client.example");
      await expectReply(greeted, "250");
      const enveloped = await openTransaction(server.port, "alice@localhost");
      clients.push(enveloped);

      sendSignal(server, "SIGTERM");
      for (const client of clients) {
        await expectReply(client, "421 4.3.2");
        await client.waitClosed();
      }
      assert.equal(await exitWithin(server, EXIT_BOUND_MS), 0);
      assert.match(server.output(), /stopping signal=SIGTERM sessions=3/);
      // The envelope that never reached DATA is gone: nothing queued, nothing delivered.
      assert.doesNotMatch(server.output(), / queued /);
      assert.deepEqual(await queueIds(server.dataDir), []);
      assert.deepEqual(maildirFiles(server.dataDir, "alice@localhost"), []);
    } finally {
      for (const client of clients) client.close();
      await stopWithin(server);
    }
  },
);

test(
  "SIGTERM during BDAT lets both a client between chunks and one mid-chunk finish with 250",
  TIMEOUT,
  async () => {
    // The trace shows when the server has read a command (verbose).
    const server = await start({ config: "verbose = true\n", users: ["alice@localhost"] });
    const between = await openTransaction(server.port, "alice@localhost");
    const midChunk = await openTransaction(server.port, "alice@localhost");
    try {
      const head = "Subject: between chunks\r\n\r\n";
      await between.write(bdat(head, false));
      await expectReply(between, `250 2.0.0 ${head.length} octets`);
      const whole = "Subject: mid chunk\r\n\r\nthe chunk in flight\r\n";
      const half = whole.length >> 1;
      await midChunk.write(`BDAT ${whole.length} LAST\r\n${whole.slice(0, half)}`);
      // Else the SIGTERM could come first and find the session idle (then 421 is right).
      await server.waitFor(new RegExp(`< BDAT ${whole.length} LAST`));

      sendSignal(server, "SIGTERM");
      await server.waitFor(/stopping signal=SIGTERM sessions=2/);
      assert.equal(server.child.exitCode, null, "the server must wait for the transfers");

      const tail = "the last chunk\r\n";
      await between.write(bdat(tail, true));
      const firstId = queuedId(await expectReply(between, "250 2.0.0"));
      await midChunk.write(whole.slice(half));
      const secondId = queuedId(await expectReply(midChunk, "250 2.0.0"));
      // Each session ends as soon as it would wait for a command.
      for (const client of [between, midChunk]) {
        await expectReply(client, "421 4.3.2");
        await client.waitClosed();
      }
      assert.equal(await exitWithin(server, EXIT_BOUND_MS), 0);

      const files = await deliveredAfterRestart(server.dataDir, "alice@localhost", [
        firstId,
        secondId,
      ]);
      assert.equal(files.length, 2, `expected exactly two messages, got ${files.join(", ")}`);
      const stored = files.map((file) => readFileSync(file, "latin1"));
      const first = stored.find((text) => text.includes(firstId));
      const second = stored.find((text) => text.includes(secondId));
      assert.ok(first?.endsWith(`\r\n${head}${tail}`), first);
      assert.ok(second?.endsWith(`\r\n${whole}`), second);
    } finally {
      between.close();
      midChunk.close();
      await stopWithin(server);
    }
  },
);

test(
  "SIGTERM with clients that never finish DATA or BDAT: exit after shutdown_grace, 421 4.3.2, nothing delivered",
  TIMEOUT,
  async () => {
    const server = await start({
      config: "shutdown_grace = 1\nverbose = true\n",
      users: ["alice@localhost"],
    });
    const data = await openTransaction(server.port, "alice@localhost");
    const chunked = await openTransaction(server.port, "alice@localhost");
    try {
      await data.send("DATA");
      await expectReply(data, "354");
      await data.write("Subject: never finished\r\n\r\nhalf a message\r\n");
      await chunked.write("BDAT 1000 LAST\r\nSubject: never finished either\r\n");
      // Else the SIGTERM could come first and find the session idle (then 421 is right).
      await server.waitFor(/< BDAT 1000 LAST/);

      sendSignal(server, "SIGTERM");
      // Bounded: the grace is one second; a server that waits for the clients fails here.
      assert.equal(await exitWithin(server, EXIT_BOUND_MS), 0);
      assert.match(server.output(), /stopping signal=SIGTERM sessions=2/);
      assert.match(server.output(), /shutdown_cut sessions=2 reason=shutdown_grace/);
      // RFC 5321 §3.8: a server that shuts down says 421 before it closes.
      for (const client of [data, chunked]) {
        await expectReply(client, "421 4.3.2");
        await client.waitClosed();
      }
      assert.doesNotMatch(server.output(), / queued /);
      assert.deepEqual(await queueIds(server.dataDir), []);
      assert.deepEqual(maildirFiles(server.dataDir, "alice@localhost"), []);
    } finally {
      data.close();
      chunked.close();
      await stopWithin(server);
    }
  },
);

/** A config that relays everything from loopback through `127.0.0.1:port`. */
function relayConfig(port: number, extra = ""): string {
  return `hostname = "postino.test"\nrelay_networks = ["127.0.0.1/32"]\n` +
    `relay_host = "127.0.0.1:${port}"\n${extra}`;
}

/** A short message whose Message-ID carries `tag`. */
function message(tag: string): string {
  return `Message-ID: <${tag}@postino.test>\r\nSubject: ${tag}\r\n\r\nbody of ${tag}\r\n`;
}

/** The Message-ID tags that reached the sink, sorted. */
function tagsAt(sink: Sink): string[] {
  return sink.dumps().map((dump) => /Message-ID: <([^@>]+)@/.exec(dump)?.[1] ?? "?").sort();
}

test(
  "SIGTERM with the remote down: accepted messages stay queued and are delivered once after restart",
  { ...TIMEOUT, skip: !HAVE_SINK },
  async () => {
    const port = await freePort();
    // Short retries, so the restarted server tries again soon after the remote is up.
    const config = relayConfig(port, "retry_initial = 1\nretry_max = 2\n");
    const server = await start({ config });
    let sink: Sink | undefined;
    let again: RunningServer | undefined;
    try {
      const tags = ["down-1", "down-2", "down-3"];
      const ids: string[] = [];
      for (const tag of tags) {
        const sent = await sendMail(server.port, {
          from: "alice@localhost",
          to: ["dave@remote.test"],
          data: message(tag),
        });
        ids.push(sent.id as string);
      }
      // Every message has had (at least) one attempt against the dead port.
      await server.settled(20_000);
      for (const id of ids) assert.match(server.output(), new RegExp(` deferred id=${id} `));
      assert.equal(await stopWithin(server), 0);

      const queued = await queueList(server.dataDir);
      assert.deepEqual(queued.map((m) => m.id).sort(), [...ids].sort());
      for (const m of queued) assert.deepEqual(m.recipients.map((r) => r.state), ["queued"]);

      sink = await startSink({ port });
      again = await startServer({ config, dataDir: server.dataDir });
      for (const id of ids) await again.waitFor(new RegExp(` delivered id=${id} `), 20_000);
      await sink.waitDumps(tags.length);
      assert.equal(await stopWithin(again), 0);
      assert.deepEqual(await queueIds(server.dataDir), []);
      assert.deepEqual(tagsAt(sink), tags);
    } finally {
      await stopWithin(server);
      if (again) await stopWithin(again);
      await sink?.stop();
    }
  },
);

test(
  "SIGTERM during a delivery whose remote is slow to answer waits for it: delivered once, not queued again",
  { ...TIMEOUT, skip: !HAVE_SINK },
  async () => {
    const sink = await startSink();
    const proxy = await startHoldingProxy({ host: sink.host, port: sink.port });
    const server = await start({ config: relayConfig(proxy.port, "shutdown_grace = 30\n") });
    try {
      const sent = await sendMail(server.port, {
        from: "alice@localhost",
        to: ["dave@remote.test"],
        data: message("slow"),
      });
      const id = sent.id as string;
      // The remote has the whole message; its 250 is held back.
      await proxy.held;
      await sink.waitDumps(1);

      sendSignal(server, "SIGTERM");
      await server.waitFor(/delivery_draining running=1 grace_ms=30000/);
      // Long enough for a server that does not wait to be gone (then this fails).
      await sleep(500);
      assert.equal(server.child.exitCode, null, "the server must wait for the delivery");
      proxy.release();
      assert.equal(await exitWithin(server, EXIT_BOUND_MS), 0);
      assert.match(server.output(), new RegExp(` delivered id=${id} `));
      assert.doesNotMatch(server.output(), /delivery_abandoned/);
      // Recorded as delivered, so no restart sends it again.
      assert.deepEqual(await queueIds(server.dataDir), []);
      assert.deepEqual(tagsAt(sink), ["slow"]);
    } finally {
      proxy.release();
      await stopWithin(server);
      await proxy.close();
      await sink.stop();
    }
  },
);

test(
  "SIGTERM during a delivery stuck past shutdown_grace: exit, the message stays queued, delivered once after restart",
  { ...TIMEOUT, skip: !HAVE_SINK },
  async () => {
    const silent = await startSilentRemote();
    const config = relayConfig(silent.port, "shutdown_grace = 1\n");
    const server = await start({ config });
    let sink: Sink | undefined;
    let again: RunningServer | undefined;
    try {
      const sent = await sendMail(server.port, {
        from: "alice@localhost",
        to: ["dave@remote.test"],
        data: message("stuck"),
      });
      const id = sent.id as string;
      // The delivery has connected and waits for a greeting that never comes.
      const deadline = Date.now() + 20_000;
      while (silent.connections === 0) {
        assert.ok(Date.now() < deadline, "the delivery never connected");
        await new Promise((r) => setTimeout(r, 20));
      }

      sendSignal(server, "SIGTERM");
      assert.equal(await exitWithin(server, EXIT_BOUND_MS), 0);
      assert.match(server.output(), /delivery_abandoned running=1/);
      assert.doesNotMatch(server.output(), new RegExp(` (delivered|deferred) id=${id} `));
      assert.deepEqual(await queueIds(server.dataDir), [id]);

      await silent.close();
      sink = await startSink({ port: silent.port });
      again = await startServer({ config, dataDir: server.dataDir });
      await again.waitFor(new RegExp(` delivered id=${id} `), 20_000);
      await sink.waitDumps(1);
      assert.equal(await stopWithin(again), 0);
      assert.deepEqual(await queueIds(server.dataDir), []);
      assert.deepEqual(tagsAt(sink), ["stuck"]);
    } finally {
      await stopWithin(server);
      if (again) await stopWithin(again);
      await silent.close();
      await sink?.stop();
    }
  },
);
