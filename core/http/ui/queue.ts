/**
 * The queue pages: `/queue` lists the spool with filters and per-message
 * actions, `/queue/:id` shows one message. Actions are plain form POSTs
 * (hold, release, flush, delete, flush all) that steer the spool directly
 * and redirect back; the access middleware has already checked the session
 * and that the POST came from our own pages.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import type { AdminDeps } from "../deps.ts";
import { formatBytes, formatDuration, formatTime } from "./format.ts";
import { type Html, notice, sendPage } from "./layout.ts";
import { safeNext } from "./login.ts";
import { messageView } from "./message_view.ts";
import { filterQueue, messageState, type QueueFilter } from "../../queue/queue_filter.ts";
import {
  attemptTable,
  filterForm,
  messageActions,
  qid,
  queueTable,
  recipientList,
  subjectOf,
} from "./queue_view.ts";

/** Messages per page of the queue listing. */
export const QUEUE_PAGE = 100;

/** The notice after an action, by the `done` code it redirects with. */
const DONE: Record<string, string> = {
  flush: "Flushed: every queued recipient is due now.",
  "flush-one": "Flushed: the message is due now.",
  hold: "Held: the message waits until it is released.",
  release: "Released: it goes out at its next try.",
  delete: "Deleted.",
  missing: "That message is no longer in the queue.",
};

function doneNotice(c: Context): Html | "" {
  const done = c.req.query("done") ?? "";
  return notice(DONE[done], done === "missing" ? "error" : "ok");
}

function notFound(c: Context, deps: AdminDeps, id: string): Response | Promise<Response> {
  return sendPage(c, {
    title: "Not found",
    active: "/queue",
    page: "queue-message",
    version: deps.version,
    body: html`
      <h1>Not in the queue</h1>
      <p>There is no message <code>${id}</code> in the queue: it was delivered or deleted.</p>
      <p><a href="/queue">Back to the queue</a></p>
    `,
  }, 404);
}

/** Where to go back to after an action: a page of ours, the queue by default. */
function backTo(back: unknown, fallback: string, done: string): string {
  back = safeNext(back ?? fallback);
  const url = new URL(back === "/" ? fallback : String(back), "http://x");
  url.searchParams.set("done", done);
  return url.pathname + url.search;
}

/** The queue routes. */
export function queueRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get("/queue", (c) => {
    const filter: QueueFilter = {
      sender: c.req.query("sender") ?? "",
      recipient: c.req.query("recipient") ?? "",
      domain: c.req.query("domain") ?? "",
      state: c.req.query("state") ?? "",
    };
    const all = deps.spool.list();
    const matching = filterQueue(all, filter);
    const shown = matching.slice(0, QUEUE_PAGE);
    const url = new URL(c.req.url);
    url.searchParams.delete("done");
    const back = url.pathname + url.search;
    const held = all.filter((m) => m.held).length;
    const subject = (id: string) => subjectOf(deps.spool.stored(id)?.data);
    const count = `${all.length} message${all.length === 1 ? "" : "s"}` +
      (held > 0 ? `, ${held} held` : "") +
      (matching.length !== all.length ? ` · ${matching.length} match` : "") +
      (shown.length < matching.length ? ` · the oldest ${shown.length} shown` : "");
    return sendPage(c, {
      title: "Queue",
      active: "/queue",
      page: "queue",
      version: deps.version,
      body: html`
        <div class="page-head">
          <h1>Queue</h1>
          <form method="post" action="/queue/flush" class="inline">
            <input type="hidden" name="back" value="${back}">
            <button type="submit" class="primary" id="flush-queue">Flush queue</button>
          </form>
        </div>
        ${doneNotice(c)} ${filterForm(filter)}
        <div id="queue-live" data-live>
          <p class="summary" id="queue-summary">${count}</p>
          ${queueTable(shown, deps.now(), back, subject)}
        </div>
      `,
    });
  });

  app.get("/queue/:id", (c) => {
    const id = c.req.param("id");
    const m = deps.spool.listing(id);
    if (m === undefined) return notFound(c, deps, id);
    const stored = deps.spool.stored(id);
    const now = deps.now();
    const state = messageState(m);
    const received = `${formatTime(m.receivedAt)} UTC, ${
      formatDuration((now - m.receivedAt) / 1000)
    } ago`;
    const source = stored === undefined
      ? html`<p class="muted">The message left the queue while this page was made.</p>`
      : messageView(stored.data, `/api${qid(id)}/raw`);
    return sendPage(c, {
      title: `Message ${id}`,
      active: "/queue",
      page: "queue-message",
      version: deps.version,
      body: html`
        <div class="page-head">
          <h1>Message <span class="mono">${id}</span></h1>
          ${messageActions(m, qid(id))}
        </div>
        ${doneNotice(c)}
        <section class="card">
          <dl class="facts">
            <dt>Sender</dt>
            <dd class="addr">${m.sender || "<>"}</dd>
            <dt>Received</dt>
            <dd>${received}</dd>
            <dt>Size</dt>
            <dd>${formatBytes(m.size)}</dd>
            <dt>State</dt>
            <dd><span class="badge ${state}">${state}</span></dd>
            <dt>Recipients</dt>
            <dd>${recipientList(m, now)}</dd>
          </dl>
        </section>
        <section class="card">
          <h2>Delivery attempts</h2>
          ${attemptTable(deps.spool.attempts(id))}
        </section>
        ${source}
        <p><a href="/queue">← Back to the queue</a></p>
      `,
    });
  });

  app.post("/queue/flush", async (c) => {
    const form = await c.req.parseBody();
    deps.spool.flush();
    deps.wakeScheduler();
    return c.redirect(backTo(form["back"], "/queue", "flush"), 303);
  });

  app.post("/queue/:id/:action{hold|release|flush|delete}", async (c) => {
    const id = c.req.param("id");
    const action = c.req.param("action");
    const form = await c.req.parseBody();
    let found: boolean;
    if (action === "hold" || action === "release") {
      found = deps.spool.hold(id, action === "hold");
    } else if (action === "flush") {
      found = deps.spool.listing(id) !== undefined;
      deps.spool.flush({ id });
    } else {
      found = deps.spool.remove(id);
    }
    if (action !== "hold") deps.wakeScheduler();
    if (!found) return c.redirect("/queue?done=missing", 303);
    const done = action === "flush" ? "flush-one" : action;
    // A deleted message has no page of its own to go back to.
    const back = action === "delete" && String(form["back"] ?? "").startsWith("/queue/")
      ? "/queue"
      : form["back"];
    return c.redirect(backTo(back, "/queue", done), 303);
  });
  return app;
}
