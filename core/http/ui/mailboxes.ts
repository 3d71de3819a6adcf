/**
 * `/mailboxes`: the local Maildirs, read through the Maildir reader (which
 * checks addresses and ids before they touch a path). Lists mailboxes, a
 * mailbox's messages page by page, and one message in full.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import {
  listMailboxes,
  listMessages,
  mailboxExists,
  type MailboxSummary,
  type MessageSummary,
  readMessage,
} from "../../store/maildir_reader.ts";
import type { AdminDeps } from "../deps.ts";
import { formatBytes, formatTime } from "./format.ts";
import { type Html, sendPage } from "./layout.ts";
import { messageView } from "./message_view.ts";

/** Messages per page of a mailbox listing. */
export const PAGE_SIZE = 50;

function boxHref(address: string): string {
  return `/mailboxes/${encodeURIComponent(address)}`;
}

function missing(c: Context, deps: AdminDeps, text: Html): Response | Promise<Response> {
  return sendPage(c, {
    title: "Not found",
    active: "/mailboxes",
    page: "mailboxes",
    version: deps.version,
    body: html`
      <h1>Not found</h1>
      <p>${text}</p>
      <p><a href="/mailboxes">All mailboxes</a></p>
    `,
  }, 404);
}

function boxTable(boxes: readonly MailboxSummary[]): Html {
  if (boxes.length === 0) return html`<p class="empty">No mailbox has received mail yet.</p>`;
  const rows = boxes.map((b) =>
    html`
      <tr>
        <td class="addr"><a href="${boxHref(b.address)}">${b.address}</a></td>
        <td class="num">${b.messages}</td>
      </tr>
    `
  );
  return html`
    <section class="card">
      <table id="mailboxes-table">
        <thead>
          <tr>
            <th>Mailbox</th>
            <th class="num">Messages</th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    </section>
  `;
}

function messageRow(address: string, m: MessageSummary): Html {
  const unread = m.folder === "new" ? html`<span class="badge queued">new</span>` : "";
  return html`
    <tr data-id="${m.id}">
      <td class="nowrap">${formatTime(m.receivedAt)}</td>
      <td class="addr">${m.from}</td>
      <td>
        <a href="${boxHref(address)}/${encodeURIComponent(m.id)}">${m.subject || "(no subject)"}</a>
        ${unread}
      </td>
      <td class="num">${formatBytes(m.size)}</td>
    </tr>
  `;
}

function messageTable(address: string, messages: readonly MessageSummary[]): Html {
  if (messages.length === 0) return html`<p class="empty">This mailbox is empty.</p>`;
  return html`
    <section class="card">
      <table id="messages-table">
        <thead>
          <tr>
            <th>Received (UTC)</th>
            <th>From</th>
            <th>Subject</th>
            <th class="num">Size</th>
          </tr>
        </thead>
        <tbody>${messages.map((m) => messageRow(address, m))}</tbody>
      </table>
    </section>
  `;
}

function pager(address: string, page: number, more: boolean): Html | "" {
  if (page === 1 && !more) return "";
  const link = (n: number, label: string) =>
    html`<a href="${boxHref(address)}?page=${n}">${label}</a>`;
  const newer = page > 1 ? link(page - 1, "← Newer") : "";
  const older = more ? link(page + 1, "Older →") : "";
  return html`<p class="pager">${newer} Page ${page} ${older}</p>`;
}

/** The mailbox routes. */
export function mailboxRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get("/mailboxes", async (c) => {
    const boxes = await listMailboxes(deps.mailRoot);
    return sendPage(c, {
      title: "Mailboxes",
      active: "/mailboxes",
      page: "mailboxes",
      version: deps.version,
      body: html`
        <h1>Mailboxes</h1>
        <div id="mailboxes-live" data-live>${boxTable(boxes)}</div>
      `,
    });
  });

  app.get("/mailboxes/:address", async (c) => {
    const address = c.req.param("address");
    if (!await mailboxExists(deps.mailRoot, address)) {
      return missing(c, deps, html`There is no mailbox <code>${address}</code>.`);
    }
    const page = Math.max(1, Math.floor(Number(c.req.query("page") ?? 1)) || 1);
    // One more than a page, to know whether there is a next one.
    const found = await listMessages(deps.mailRoot, address, {
      limit: PAGE_SIZE + 1,
      offset: (page - 1) * PAGE_SIZE,
    });
    return sendPage(c, {
      title: address,
      active: "/mailboxes",
      page: "mailbox",
      version: deps.version,
      body: html`
        <h1>Mailbox <span class="addr">${address}</span></h1>
        <div id="mailbox-live" data-live>
          ${messageTable(address, found.slice(0, PAGE_SIZE))}
          ${pager(address, page, found.length > PAGE_SIZE)}
        </div>
        <p><a href="/mailboxes">← All mailboxes</a></p>
      `,
    });
  });

  app.get("/mailboxes/:address/:id", async (c) => {
    const address = c.req.param("address");
    const id = c.req.param("id");
    const bytes = await readMessage(deps.mailRoot, address, id);
    if (bytes === undefined) {
      return missing(c, deps, html`There is no message <code>${id}</code> in ${address}.`);
    }
    const box = boxHref(address);
    const raw = `/api/mailboxes/${encodeURIComponent(address)}/messages/${encodeURIComponent(id)}`;
    return sendPage(c, {
      title: `Message in ${address}`,
      active: "/mailboxes",
      page: "mailbox-message",
      version: deps.version,
      body: html`
        <h1>Message in <a class="addr" href="${box}">${address}</a></h1>
        <p class="muted mono">${id}</p>
        ${messageView(bytes, raw)}
        <p><a href="${box}">← Back to the mailbox</a></p>
      `,
    });
  });
  return app;
}
