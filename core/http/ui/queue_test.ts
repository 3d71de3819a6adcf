import assert from "node:assert/strict";
import { test } from "node:test";
import { queuedMessage, type TestApp, testApp } from "./test_deps.ts";

const HOSTILE = 'Subject: <script>alert("q")</script> invoice\r\nFrom: x@example.net\r\n\r\nhi\r\n';

async function withQueue(fn: (t: TestApp) => Promise<void>): Promise<void> {
  const t = await testApp();
  try {
    await t.spool.put(queuedMessage("Q1", HOSTILE, ["carol@far.example", "dan@near.test"]));
    await t.spool.put(queuedMessage("Q2", "Subject: second\r\n\r\nx\r\n", ["erin@near.test"]));
    await fn(t);
  } finally {
    t.close();
  }
}

test("GET /queue lists messages with their subject escaped, newest state and actions", async () => {
  await withQueue(async (t) => {
    const response = await t.browse("/queue");
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.doesNotMatch(page, /<script>alert/);
    assert.match(
      page,
      /<td class="subject">&lt;script&gt;alert\(&quot;q&quot;\)&lt;\/script&gt; invoice<\/td>/,
    );
    assert.match(page, /<tr id="msg-Q1" data-id="Q1">/);
    assert.match(page, /<tr id="msg-Q2" data-id="Q2">/);
    assert.match(page, /action="\/queue\/Q1\/hold"/);
    assert.match(page, /data-confirm="Delete message Q1 for good\?"/);
    assert.match(page, /2 messages/);
  });
});

test("GET /queue filters by domain and keeps the filters in the form", async () => {
  await withQueue(async (t) => {
    const page = await (await t.browse("/queue?domain=far.example&sender=%22%3E")).text();
    assert.match(page, /value="&quot;&gt;"/, "the filter value is escaped");
    assert.match(page, /The queue is empty|msg-/);
    const domain = await (await t.browse("/queue?domain=far.example")).text();
    assert.match(domain, /msg-Q1/);
    assert.doesNotMatch(domain, /msg-Q2/);
    assert.match(domain, /2 messages · 1 match/);
  });
});

test("POST /queue/:id/hold, release and delete steer the spool and go back", async () => {
  await withQueue(async (t) => {
    const held = await t.post("/queue/Q1/hold", { back: "/queue?domain=far.example" });
    assert.equal(held.status, 303);
    assert.equal(held.headers.get("location"), "/queue?domain=far.example&done=hold");
    assert.equal(t.spool.listing("Q1")?.held, true);
    assert.match(await (await t.browse("/queue?done=hold")).text(), /Held: the message waits/);

    const released = await t.post("/queue/Q1/release", { back: "/queue/Q1" });
    assert.equal(released.headers.get("location"), "/queue/Q1?done=release");
    assert.equal(t.spool.listing("Q1")?.held, false);

    const deleted = await t.post("/queue/Q1/delete", { back: "/queue/Q1" });
    assert.equal(deleted.headers.get("location"), "/queue?done=delete", "not the gone page");
    assert.equal(t.spool.listing("Q1"), undefined);

    const again = await t.post("/queue/Q1/flush", {});
    assert.equal(again.headers.get("location"), "/queue?done=missing");
  });
});

test("POST /queue/flush makes every recipient due and never returns off-site", async () => {
  await withQueue(async (t) => {
    const response = await t.post("/queue/flush", { back: "https://evil.example/" });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), "/queue?done=flush");
    for (const m of t.spool.list()) {
      for (const r of m.recipients) assert.ok(r.nextAttempt <= Date.now());
    }
  });
});

test("POST to the queue from another site is refused before it reaches the spool", async () => {
  await withQueue(async (t) => {
    const response = await t.browse("/queue/Q1/delete", {
      method: "POST",
      headers: {
        origin: "https://evil.example",
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "",
    });
    assert.equal(response.status, 403);
    assert.ok(t.spool.listing("Q1"));
  });
});

test("GET /queue/:id shows recipients, attempts and the escaped source; unknown ids are 404", async () => {
  await withQueue(async (t) => {
    const page = await (await t.browse("/queue/Q1")).text();
    assert.match(page, /carol@far\.example/);
    assert.match(page, /No delivery attempt yet/);
    assert.match(page, /<pre class="source" id="source">Subject: &lt;script&gt;/);
    assert.match(page, /href="\/api\/queue\/Q1\/raw"/);
    assert.doesNotMatch(page, /<script>alert/);
    const missing = await t.browse("/queue/%3Cb%3Enope");
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /<code>&lt;b&gt;nope<\/code>/);
  });
});
