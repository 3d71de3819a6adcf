/**
 * The web UI in a real browser: Debian's Chromium, driven by playwright-core,
 * against the real server with its admin listener on a free port. The relay
 * host is down at first, so a remote message stays deferred in the queue; a
 * local one lands in a Maildir. The browser logs in with the token through
 * the form, finds both, holds and releases, adds and deletes a user, watches
 * events and a terminal arrive live, then — with a real remote (smtp-sink)
 * listening — clicks "Flush queue" and sees the queue empty. The last page
 * is kept as `artifacts/webui.png`.
 *
 * Skipped only when /usr/bin/chromium is missing (CI installs it).
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { HAVE_CHROMIUM, launchChromium, type PageProblems, watchPage } from "./helpers/browser.ts";
import { startScriptedRemote } from "./helpers/remote_script.ts";
import { freePort, HAVE_SINK, sendMail, startSink, until } from "./helpers/remote_sink.ts";
import { postino, ROOT, type RunningServer, startServer } from "./helpers/server.ts";
import { transcript } from "./helpers/smtp_client.ts";

const SKIP = HAVE_CHROMIUM ? false : "needs Debian's chromium at /usr/bin/chromium";
const OPTIONS = { timeout: 60_000, skip: SKIP };
/** How long the browser waits for a page to show something. */
const WAIT = { timeout: 20_000 };

const REMOTE_SUBJECT = "Remote <script>alert(1)</script> report";
const LOCAL_SUBJECT = "Local <b>note</b> & more";

let server: RunningServer;
let browser: Browser | undefined;
let page: Page;
let problems: PageProblems;
let base: string;
let token: string;
let relayPort: number;
let remoteId: string;
let localId: string;
const cleanups: (() => Promise<void>)[] = [];

function message(subject: string, body: string): string {
  return `From: Bob <bob@example.net>\r\nSubject: ${subject}\r\n\r\n${body}\r\n`;
}

before(async () => {
  if (SKIP) return;
  relayPort = await freePort();
  server = await startServer({
    users: ["alice@localhost"],
    args: [
      "--http",
      "127.0.0.1:0",
      "--relay-host",
      `127.0.0.1:${relayPort}`,
      "--relay-network",
      "127.0.0.0/8",
      "--plugin",
      "terminal",
    ],
  });
  await server.waitFor(/admin_http address=\S+ port=\d+/);
  base = `http://127.0.0.1:${/admin_http address=\S+ port=(\d+)/.exec(server.output())?.[1]}`;
  const printed = await postino(["admin", "token", "--data-dir", server.dataDir]);
  assert.equal(printed.code, 0, printed.stderr);
  token = printed.stdout.trim().split("\n").at(-1) ?? "";

  const remote = await sendMail(server.port, {
    from: "bob@example.net",
    to: ["carol@far.example"],
    data: message(REMOTE_SUBJECT, "Numbers inside."),
  });
  remoteId = remote.id ?? "";
  const local = await sendMail(server.port, {
    from: "bob@example.net",
    to: ["alice@localhost"],
    data: message(LOCAL_SUBJECT, "See you at noon."),
  });
  localId = local.id ?? "";
  // The remote one was tried (the relay is down) and the local one delivered.
  await server.waitFor(new RegExp(`attempted id=${remoteId} delivered=0 deferred=1`));
  await server.waitFor(new RegExp(`delivered id=${localId} to=alice@localhost`));

  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  problems = watchPage(page);
});

after(async () => {
  // Browser first: its event streams hold the admin listener open.
  await browser?.close();
  for (const cleanup of cleanups.reverse()) await cleanup();
  if (server) {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
});

/** Waits until the text of the first `selector` match matches `pattern`. */
async function waitForText(selector: string, pattern: RegExp): Promise<void> {
  await until(`${selector} to match ${pattern}`, async () => {
    const text = await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() =>
      null
    );
    return text !== null && pattern.test(text) ? true : undefined;
  }, WAIT.timeout);
}

test(
  "login: a page sends the browser to the form; a wrong token is refused, the token lets in",
  OPTIONS,
  async () => {
    await page.goto(`${base}/queue`);
    assert.equal(new URL(page.url()).pathname, "/login");
    await page.fill("#token", "not-the-token");
    await page.click("button[type=submit]");
    await waitForText(".notice.error", /not the admin token/);
    await page.fill("#token", token);
    await Promise.all([page.waitForURL(`${base}/queue`, WAIT), page.click("button[type=submit]")]);
    const cookies = await page.context().cookies(base);
    const session = cookies.find((c) => c.name === "postino_session");
    assert.ok(session, "the session cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, "Strict");
  },
);

test(
  "queue: the deferred remote message shows with its subject as text; hold and release",
  OPTIONS,
  async () => {
    await page.goto(`${base}/queue`);
    const row = page.locator(`#msg-${remoteId}`);
    await row.waitFor(WAIT);
    assert.equal((await row.locator("td.subject").textContent())?.trim(), REMOTE_SUBJECT);
    assert.match(await row.textContent() ?? "", /carol@far\.example\s*deferred/);
    assert.match(await row.textContent() ?? "", /cannot connect|refused/i);

    await row.getByRole("button", { name: "Hold" }).click();
    await waitForText(".notice", /Held/);
    assert.equal(await page.locator(`#msg-${remoteId} td .badge.held`).count(), 1);
    await page.locator(`#msg-${remoteId}`).getByRole("button", { name: "Release" }).click();
    await waitForText(".notice", /Released/);
    assert.equal(await page.locator(`#msg-${remoteId} .badge.held`).count(), 0);

    // The viewer: header fields and source, escaped.
    await page.click(`#msg-${remoteId} a.mono`);
    await page.locator("#source").waitFor(WAIT);
    assert.match(
      await page.locator("#source").textContent() ?? "",
      /Subject: Remote <script>alert\(1\)<\/script> report/,
    );
    assert.match(await page.locator("table.headers").textContent() ?? "", /Bob <bob@example\.net>/);
  },
);

test("mailboxes: the local message is listed and shown, escaped", OPTIONS, async () => {
  await page.goto(`${base}/mailboxes`);
  await page.locator("#mailboxes-table a", { hasText: "alice@localhost" }).click();
  const link = page.locator("#messages-table a", { hasText: LOCAL_SUBJECT });
  await link.waitFor(WAIT);
  await link.click();
  await page.locator("#source").waitFor(WAIT);
  const source = await page.locator("#source").textContent() ?? "";
  assert.match(source, /Subject: Local <b>note<\/b> & more/);
  assert.match(source, /See you at noon\./);
  assert.equal(await page.locator("#source b").count(), 0, "no markup from the message");
});

test(
  "users: add a user with a password, then delete it after the confirm prompt",
  OPTIONS,
  async () => {
    await page.goto(`${base}/users`);
    await page.fill("#add-user input[name=address]", "dora@localhost");
    await page.fill("#add-user input[name=name]", "Dora <Explorer>");
    await page.fill("#add-user input[name=password]", "s3cret-pass");
    await page.click("#add-user button[type=submit]");
    await waitForText(".notice", /User added/);
    const row = page.locator('#users-table tr[data-address="dora@localhost"]');
    assert.match(await row.textContent() ?? "", /Dora <Explorer>\s*set/);
    await row.getByRole("button", { name: "Delete" }).click();
    await waitForText(".notice", /User deleted/);
    assert.equal(await page.locator('#users-table tr[data-address="dora@localhost"]').count(), 0);
  },
);

test("events: new mail events appear at the top while the page is open", OPTIONS, async () => {
  await page.goto(`${base}/events`);
  await waitForText("#stream-status", /^live$/);
  const sent = await sendMail(server.port, {
    from: "bob@example.net",
    to: ["alice@localhost"],
    data: message("Live event", "ping"),
  });
  const delivered = page.locator("#events li", {
    has: page.locator(".name", { hasText: /^delivered$/ }),
  }).filter({ hasText: `id=${sent.id}` });
  await delivered.waitFor(WAIT);
  const first = await page.locator("#events li").first().textContent() ?? "";
  assert.match(first, new RegExp(`id=${sent.id}`), "newest first");
});

test("terminal: a SEND to the user shows on the page as it arrives", OPTIONS, async () => {
  await page.goto(`${base}/terminal`);
  await page.selectOption("#pick-terminal select", "alice@localhost");
  await page.click("#pick-terminal button[type=submit]");
  await waitForText("#stream-status", /^connected$/);
  const client = await transcript(
    server.port,
    `
    S: 220
    C: EHLO client.example
    S: 250
    C: SEND FROM:<carol@example.net>
    S: 250
    C: RCPT TO:<alice@localhost>
    S: 250
    C: DATA
    S: 354
  `,
  );
  await client.send("Subject: note\r\n\r\nLunch <at> noon?\r\n.");
  assert.match((await client.reply()).join("\n"), /^250 /);
  client.close();
  await waitForText("#terminal-lines", /carol@example\.net: .*Lunch <at> noon\?/s);
});

test(
  "Flush queue: with the remote up, the queue empties and the remote has the message",
  OPTIONS,
  async () => {
    let received: () => Promise<string>;
    if (HAVE_SINK) {
      const sink = await startSink({ port: relayPort });
      cleanups.push(() => sink.stop());
      received = async () => (await sink.waitDumps(1)).join("\n");
    } else {
      const remote = await startScriptedRemote(() => "250 2.1.5 Ok", { port: relayPort });
      cleanups.push(() => remote.close());
      received = async () => {
        for (let i = 0; i < 200 && remote.transactions.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
        return remote.transactions.map((t) => new TextDecoder().decode(t.data)).join("\n");
      };
    }
    await page.goto(`${base}/queue`);
    await page.locator(`#msg-${remoteId}`).waitFor(WAIT);
    await page.click("#flush-queue");
    await waitForText(".notice", /Flushed/);
    // The list follows the server by itself (app.js refreshes it).
    await page.locator("#queue-empty").waitFor(WAIT);
    assert.match(await received(), /Subject: Remote <script>alert\(1\)<\/script> report/);
  },
);

test("dashboard: live stats, health facts; the screenshot is kept", OPTIONS, async () => {
  await page.goto(`${base}/`);
  await waitForText("#stats-status", /^live$/);
  // A few samples, so the chart has lines to draw.
  await until("three samples on the chart", async () => {
    const points = await page.locator("#throughput .line.accepted").getAttribute("points");
    return (points ?? "").split(" ").length >= 3 ? true : undefined;
  }, WAIT.timeout);
  assert.match(
    await page.locator("#listeners").textContent() ?? "",
    new RegExp(`smtp\\s*127\\.0\\.0\\.1\\s*${server.port}`),
  );
  assert.equal((await page.locator('[data-stat="queue"]').textContent())?.trim(), "0");
  assert.match(
    await page.locator('[data-stat="total-delivered"]').textContent() ?? "",
    /^[1-9]\d*$/,
  );
  const dir = join(ROOT, "artifacts");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, "webui.png"), fullPage: true });
});

test(
  "the pages ran without script errors, CSP violations or dialogs; logout ends the session",
  OPTIONS,
  async () => {
    assert.deepEqual(problems, { errors: [], cspViolations: [], dialogs: [] });
    await page.goto(`${base}/`);
    await Promise.all([page.waitForURL(/\/login$/, WAIT), page.click(".logout button")]);
    await page.goto(`${base}/queue`);
    assert.equal(new URL(page.url()).pathname, "/login");
  },
);
