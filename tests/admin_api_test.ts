/**
 * The admin JSON API on the real server: access control on every route,
 * users and aliases that the SMTP side uses at once, the Maildir reader,
 * stats, the event stream and the browser terminal (a real SEND reaches
 * it), and event streams ending at shutdown. Requests go through `fetch`,
 * mail through raw SMTP clients.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type AdminClient, adminClient, SseReader } from "./helpers/admin_api.ts";
import { sendMail } from "./helpers/remote_sink.ts";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { transcript } from "./helpers/smtp_client.ts";
import { makeCerts, openSession, plainResponse, type TestCerts, tlsConfig } from "./helpers/tls.ts";

const TIMEOUT = { timeout: 60_000 };
const PASSWORD = "s3cret-Pa55";

let certs: TestCerts;
let server: RunningServer;
let api: AdminClient;

before(async () => {
  certs = makeCerts();
  server = await startServer({
    args: ["--http", "127.0.0.1:0", "--plugin", "terminal"],
    config: tlsConfig(certs),
    users: [`alice@localhost:${PASSWORD}`, "bob@localhost"],
  });
  api = await adminClient(server);
});

after(async () => {
  await server?.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
  rmSync(certs.dir, { recursive: true, force: true });
});

/** Every route that needs the token, with the status it gets once the token is there. */
const GUARDED: [method: string, path: string, withToken: number][] = [
  ["GET", "/api/queue", 200],
  ["GET", "/api/queue/0000NOPE", 404],
  ["GET", "/api/queue/0000NOPE/raw", 404],
  ["POST", "/api/queue/flush", 200],
  ["POST", "/api/queue/0000NOPE/flush", 404],
  ["POST", "/api/queue/0000NOPE/hold", 404],
  ["POST", "/api/queue/0000NOPE/release", 404],
  ["DELETE", "/api/queue/0000NOPE", 404],
  ["GET", "/api/users", 200],
  ["POST", "/api/users", 400],
  ["GET", "/api/users/alice@localhost", 200],
  ["PATCH", "/api/users/nobody@localhost", 404],
  ["DELETE", "/api/users/nobody@localhost", 404],
  ["GET", "/api/aliases", 200],
  ["POST", "/api/aliases", 400],
  ["GET", "/api/aliases/nobody@localhost", 404],
  ["PUT", "/api/aliases/nobody@localhost", 400],
  ["DELETE", "/api/aliases/nobody@localhost", 404],
  ["GET", "/api/mailboxes", 200],
  ["GET", "/api/mailboxes/alice@localhost/messages", 200],
  ["GET", "/api/mailboxes/alice@localhost/messages/0000NOPE", 404],
  ["GET", "/api/stats", 200],
  ["GET", "/api/events", 200],
  ["GET", "/api/terminal/alice@localhost", 200],
];

test(
  "every API route is 401 without the token or with a wrong one, and served with it",
  TIMEOUT,
  async () => {
    for (const [method, path, withToken] of GUARDED) {
      const none = await api.fetch(path, { method, auth: false });
      assert.equal(none.status, 401, `${method} ${path} without a token`);
      assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="postino"');
      assert.deepEqual(await none.json(), { error: "authentication required" });
      const wrong = await api.fetch(path, { method, auth: `${api.token}x` });
      assert.equal(wrong.status, 401, `${method} ${path} with a wrong token`);
      await wrong.body?.cancel();
      const right = await api.fetch(path, {
        method,
        ...(method === "GET" || method === "DELETE"
          ? {}
          : { body: "{}", headers: { "content-type": "application/json" } }),
      });
      assert.equal(right.status, withToken, `${method} ${path} with the token`);
      await right.body?.cancel();
    }
  },
);

test("/api/health and /metrics are open", TIMEOUT, async () => {
  const health = await api.fetch("/api/health", { auth: false });
  assert.equal(health.status, 200);
  assert.equal((await health.json()).status, "ok");
  const metrics = await api.fetch("/metrics", { auth: false });
  assert.equal(metrics.status, 200);
  assert.equal(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.match(await metrics.text(), /^# TYPE postino_smtp_connections_total counter$/m);
});

test("http_open_loopback waives the token on a loopback bind", TIMEOUT, async () => {
  const open = await startServer({ args: ["--http", "127.0.0.1:0", "--http-open-loopback"] });
  try {
    await open.waitFor(/admin_http .*token="not required \(http_open_loopback\)"/);
    const client = await adminClient(open);
    const stats = await client.fetch("/api/stats", { auth: false });
    assert.equal(stats.status, 200);
    await stats.body?.cancel();
  } finally {
    await open.stop();
    rmSync(open.dataDir, { recursive: true, force: true });
  }
});

test(
  "users: create, read, change and delete, with passwords stored only as hashes",
  TIMEOUT,
  async () => {
    const created = await api.json("POST", "/api/users", {
      address: " Carol@LocalHost ",
      password: "first-pw",
      name: "Carol",
    });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body, {
      address: "carol@localhost",
      name: "Carol",
      hasPassword: true,
      grants: [],
    });
    assert.equal(
      (await api.json("POST", "/api/users", { address: "carol@localhost" })).status,
      409,
    );
    // Refused input, each with a reason.
    const refusals: [unknown, number, RegExp][] = [
      [{ address: "not an address" }, 400, /invalid address/],
      [{ password: "x" }, 400, /"address" is required/],
      [{ address: "dan@localhost", password: "" }, 400, /must not be empty/],
      [{ address: "dan@localhost", passwd: "x" }, 400, /unknown field\(s\): passwd/],
      [{ address: 42 }, 400, /must be a string/],
      [[1, 2], 400, /JSON object/],
    ];
    for (const [body, status, reason] of refusals) {
      const reply = await api.json<{ error: string }>("POST", "/api/users", body);
      assert.equal(reply.status, status, JSON.stringify(body));
      assert.match(reply.body.error, reason);
    }
    const plain = await api.fetch("/api/users", {
      method: "POST",
      body: "address=dan@localhost",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(plain.status, 415);
    await plain.body?.cancel();
    const broken = await api.fetch("/api/users", {
      method: "POST",
      body: "{nope",
      headers: { "content-type": "application/json" },
    });
    assert.equal(broken.status, 400);
    assert.deepEqual(await broken.json(), { error: "the body is not valid JSON" });

    const listed = await api.fetch("/api/users");
    const text = await listed.text();
    assert.ok(!text.includes("first-pw") && !/scrypt|\$/.test(text), text);
    const users = JSON.parse(text).users as { address: string }[];
    assert.deepEqual(users.map((u) => u.address), [
      "alice@localhost",
      "bob@localhost",
      "carol@localhost",
    ]);

    assert.equal((await api.json("GET", "/api/users/nobody@localhost")).status, 404);
    assert.equal((await api.json("GET", "/api/users/a..b@localhost")).status, 400);
    const changed = await api.json("PATCH", "/api/users/carol@localhost", {
      password: "second-pw",
      name: null,
      grants: ["Example.NET."],
    });
    assert.equal(changed.status, 200);
    assert.deepEqual(changed.body, {
      address: "carol@localhost",
      name: null,
      hasPassword: true,
      grants: ["example.net"],
    });
    // The new password works over SMTP AUTH at once; the old one does not.
    const session = await openSession(server.port, {
      starttls: true,
      auth: { user: "carol@localhost", password: "second-pw" },
    });
    session.close();
    await assert.rejects(
      openSession(server.port, {
        starttls: true,
        auth: { user: "carol@localhost", password: "first-pw" },
      }),
      /AUTH: expected 235/,
    );
    assert.equal(
      (await api.json("PATCH", "/api/users/carol@localhost", { grants: ["not a domain"] })).status,
      400,
    );
    assert.equal(
      (await api.json("PATCH", "/api/users/nobody@localhost", { name: "x" })).status,
      404,
    );
    const wrongMethod = await api.fetch("/api/users/carol@localhost", { method: "PUT" });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "GET, PATCH, DELETE");
    await wrongMethod.body?.cancel();
    assert.deepEqual(await api.json("DELETE", "/api/users/carol@localhost"), {
      status: 200,
      body: { deleted: "carol@localhost" },
    });
    assert.equal((await api.json("DELETE", "/api/users/carol@localhost")).status, 404);
  },
);

test("aliases: create, replace and delete; SMTP expands them at once", TIMEOUT, async () => {
  const created = await api.json("POST", "/api/aliases", {
    address: "team@localhost",
    members: ["alice@localhost", "Someone@Far.Example"],
    private: true,
  });
  assert.equal(created.status, 201);
  assert.deepEqual(created.body, {
    address: "team@localhost",
    members: ["alice@localhost", "someone@far.example"],
    private: true,
  });
  assert.equal(
    (await api.json("POST", "/api/aliases", {
      address: "team@localhost",
      members: ["x@y.example"],
    }))
      .status,
    409,
  );
  assert.equal(
    (await api.json("POST", "/api/aliases", {
      address: "alice@localhost",
      members: ["x@y.example"],
    }))
      .status,
    409,
  );
  assert.equal(
    (await api.json("PUT", "/api/aliases/bob@localhost", { members: ["x@y.example"] })).status,
    409,
  );
  assert.equal(
    (await api.json("POST", "/api/aliases", { address: "a@localhost", members: [] })).status,
    400,
  );
  assert.equal(
    (await api.json("POST", "/api/aliases", { address: "a@localhost", members: ["bad address"] }))
      .status,
    400,
  );
  const replaced = await api.json("PUT", "/api/aliases/team@localhost", {
    members: ["bob@localhost"],
  });
  assert.equal(replaced.status, 200);
  assert.deepEqual(replaced.body, {
    address: "team@localhost",
    members: ["bob@localhost"],
    private: true,
  });
  const fresh = await api.json("PUT", "/api/aliases/desk@localhost", {
    members: ["bob@localhost"],
  });
  assert.equal(fresh.status, 201);
  const list = await api.json<{ aliases: { address: string; private: boolean }[] }>(
    "GET",
    "/api/aliases",
  );
  assert.deepEqual(list.body.aliases.map((a) => [a.address, a.private]), [
    ["desk@localhost", false],
    ["team@localhost", true],
  ]);
  // Mail to the alias goes to its new member.
  const sent = await sendMail(server.port, {
    from: "someone@far.example",
    to: ["team@localhost"],
    data: "Subject: for the team\r\n\r\nhello team\r\n",
  });
  assert.ok(sent.id);
  await server.waitFor(new RegExp(` delivered id=${sent.id} to=bob@localhost`));
  assert.deepEqual(await api.json("DELETE", "/api/aliases/desk@localhost"), {
    status: 200,
    body: { deleted: "desk@localhost" },
  });
  assert.equal((await api.json("GET", "/api/aliases/desk@localhost")).status, 404);
  assert.equal((await api.json("DELETE", "/api/aliases/desk@localhost")).status, 404);
});

test(
  "mailboxes: list, read decoded headers and fetch the source; no way out of the mailbox",
  TIMEOUT,
  async () => {
    const sent = await sendMail(server.port, {
      from: "rene@far.example",
      to: ["alice@localhost"],
      data: "From: =?UTF-8?Q?Ren=C3=A9?= <rene@far.example>\r\nTo: alice@localhost\r\n" +
        "Subject: =?UTF-8?B?Y2Fmw6k=?= time\r\nMessage-ID: <cafe@far.example>\r\n\r\nOn me.\r\n",
    });
    await server.waitFor(new RegExp(` delivered id=${sent.id} to=alice@localhost`));
    const boxes = await api.json<{ mailboxes: { address: string; messages: number }[] }>(
      "GET",
      "/api/mailboxes",
    );
    assert.ok(boxes.body.mailboxes.some((b) => b.address === "alice@localhost" && b.messages >= 1));
    const page = await api.json<{ total: number; messages: Record<string, unknown>[] }>(
      "GET",
      "/api/mailboxes/alice@localhost/messages?limit=1",
    );
    assert.equal(page.status, 200);
    assert.equal(page.body.messages.length, 1);
    const [newest] = page.body.messages;
    assert.equal(newest?.["subject"], "café time");
    assert.equal(newest?.["from"], "René <rene@far.example>");
    assert.equal(newest?.["messageId"], "<cafe@far.example>");
    assert.equal(newest?.["folder"], "new");
    const id = String(newest?.["id"]);
    const dir = join(server.dataDir, "mail", "localhost", "alice", "new");
    assert.ok(readdirSync(dir).includes(id));
    const raw = await api.fetch(
      `/api/mailboxes/alice@localhost/messages/${encodeURIComponent(id)}`,
    );
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get("content-type"), "message/rfc822");
    assert.equal(raw.headers.get("content-disposition"), null);
    assert.deepEqual(
      new Uint8Array(await raw.arrayBuffer()),
      new Uint8Array(readFileSync(join(dir, id))),
    );
    const download = await api.fetch(
      `/api/mailboxes/alice@localhost/messages/${encodeURIComponent(id)}?download=1`,
    );
    assert.equal(download.headers.get("content-disposition"), `attachment; filename="${id}.eml"`);
    await download.body?.cancel();
    // Unknown mailboxes and messages, and every way of climbing out.
    assert.equal((await api.json("GET", "/api/mailboxes/nobody@localhost/messages")).status, 404);
    for (
      const path of [
        "/api/mailboxes/alice@localhost/messages/..%2F..%2F..%2Fadmin-token",
        "/api/mailboxes/alice@localhost/messages/..%252F..%252Fadmin-token",
        "/api/mailboxes/alice@localhost/messages/%2Fetc%2Fpasswd",
        "/api/mailboxes/alice@localhost/messages/x%00y",
        "/api/mailboxes/..%2F..%40localhost/messages",
        "/api/mailboxes/alice%00@localhost/messages",
      ]
    ) {
      const reply = await api.fetch(path);
      const body = await reply.text();
      assert.ok(reply.status === 400 || reply.status === 404, `${path}: ${reply.status}`);
      assert.ok(!body.includes(api.token) && !body.includes("root:"), path);
    }
  },
);

test(
  "stats: totals count since start; accepted and delivered go up by one per message",
  TIMEOUT,
  async () => {
    type Stats = {
      time: number;
      uptimeSeconds: number;
      connections: number;
      queue: { messages: number; held: number; oldestAgeSeconds: number | null };
      totals: Record<string, number>;
    };
    const before = (await api.json<Stats>("GET", "/api/stats")).body;
    const sent = await sendMail(server.port, {
      from: "x@far.example",
      to: ["bob@localhost"],
      data: "Subject: count me\r\n\r\n.\r\n",
    });
    await server.waitFor(new RegExp(` attempted id=${sent.id} `));
    const now = (await api.json<Stats>("GET", "/api/stats")).body;
    assert.ok(now.time >= before.time);
    assert.equal(now.totals["accepted"], (before.totals["accepted"] ?? 0) + 1);
    assert.equal(now.totals["delivered"], (before.totals["delivered"] ?? 0) + 1);
    assert.equal(now.totals["connections"], (before.totals["connections"] ?? 0) + 1);
    assert.deepEqual(now.queue, { messages: 0, held: 0, oldestAgeSeconds: null });
    assert.deepEqual(Object.keys(now.totals).sort(), [
      "accepted",
      "bounced",
      "connections",
      "deferred",
      "delivered",
      "rejected",
    ]);
  },
);

test(
  "events: mail events stream live, replay after Last-Event-ID, and carry no AUTH secret",
  TIMEOUT,
  async () => {
    const stream = new SseReader(await api.fetch("/api/events"));
    const client = await openSession(server.port, {
      starttls: true,
      auth: { user: "alice@localhost", password: PASSWORD },
    });
    assert.match(await client.command("MAIL FROM:<alice@localhost>"), /^250/);
    assert.match(await client.command("RCPT TO:<bob@localhost>"), /^250/);
    assert.match(await client.command("DATA"), /^354/);
    const queued = await client.command("Subject: streamed\r\n\r\nhi\r\n.");
    const id = /queued as (\S+)/.exec(queued)?.[1];
    assert.ok(id, queued);
    client.close();
    const parsed = () =>
      stream.events.map((e) => ({ ...e, json: JSON.parse(e.data) as Record<string, unknown> }));
    await stream.until(() =>
      parsed().some((e) =>
        e.json["name"] === "delivered" && (e.json["fields"] as { id?: string }).id === id
      )
    );
    await stream.cancel();
    const events = parsed();
    assert.ok(events.every((e) => e.event === "mail" && e.id === String(e.json["seq"])));
    const names = events.map((e) => e.json["name"]);
    for (const name of ["connect", "tls", "auth", "queued", "delivered"]) {
      assert.ok(names.includes(name), `${name} in ${names.join(",")}`);
    }
    const auth = events.find((e) => e.json["name"] === "auth");
    assert.equal((auth?.json["fields"] as { user?: string }).user, "alice@localhost");
    const all = JSON.stringify(stream.events);
    assert.ok(!all.includes(PASSWORD) && !all.includes(plainResponse("alice@localhost", PASSWORD)));
    // Reconnecting with Last-Event-ID replays what came after it.
    const queuedEvent = events.find((e) => e.json["name"] === "queued");
    const seq = Number(queuedEvent?.json["seq"]);
    const again = new SseReader(
      await api.fetch("/api/events", { headers: { "last-event-id": String(seq - 1) } }),
    );
    const [first] = await again.until((got) => got.length >= 1);
    await again.cancel();
    assert.equal(first?.id, String(seq));
    assert.equal(JSON.parse(first?.data ?? "{}").name, "queued");
  },
);

test("terminal: a browser terminal gets SEND messages while it is open", TIMEOUT, async () => {
  assert.equal((await api.json("GET", "/api/terminal/nobody@localhost")).status, 404);
  assert.equal((await api.json("GET", "/api/terminal/not-an-address")).status, 400);
  const stream = new SseReader(await api.fetch("/api/terminal/alice@localhost"));
  const client = await transcript(
    server.port,
    `
    S: 220
    C: EHLO client.example
    S: 250
    C: SEND FROM:<carol@example.net>
    S: 250 2.1.0
    C: RCPT TO:<alice@localhost>
    S: 250
    C: DATA
    S: 354
    C: Subject: ping
    C:
    C: lunch at noon?
    C: .
    S: 250
    C: QUIT
    S: 221
  `,
  );
  client.close();
  const [message] = await stream.until((events) => events.length >= 1);
  assert.equal(message?.event, "message");
  assert.equal(message?.id, "1");
  const data = JSON.parse(message?.data ?? "{}");
  assert.equal(data.from, "carol@example.net");
  assert.equal(data.text, "lunch at noon?");
  assert.equal(typeof data.time, "number");
  await stream.cancel();
  // Once the browser is gone, so is the terminal: RCPT says so (RFC 821 450).
  const deadline = Date.now() + 15_000;
  for (;;) {
    const probe = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.example
      S: 250
      C: SEND FROM:<carol@example.net>
      S: 250
      C: RCPT TO:<alice@localhost>
    `,
    );
    const reply = (await probe.reply()).at(-1) ?? "";
    probe.close();
    if (reply.startsWith("450")) break;
    assert.ok(Date.now() < deadline, `the terminal stayed open: ${reply}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

test("an open event stream ends at shutdown and does not hold the server up", TIMEOUT, async () => {
  const events = new SseReader(await api.fetch("/api/events"));
  const terminal = new SseReader(await api.fetch("/api/terminal/bob@localhost"));
  const code = await server.stop();
  assert.equal(code, 0);
  await events.until(() => false);
  await terminal.until(() => false);
  assert.equal(events.ended, true);
  assert.equal(terminal.ended, true);
  assert.match(server.output(), / stopped/);
});
