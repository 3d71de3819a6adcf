/**
 * How the queue pages draw the spool: the table with its per-message
 * actions (form POSTs back to `queue.ts`), the recipients' states, the
 * filter form and a message's delivery attempts.
 *
 * @module
 */
import { html } from "hono/html";
import type { AttemptRecord } from "../../queue/sqlite_spool.ts";
import type { QueueListing, RecipientStatus } from "../../queue/spool.ts";
import { firstFields } from "../../store/header_fields.ts";
import { formatBytes, formatDuration, formatTime } from "./format.ts";
import type { Html } from "./layout.ts";
import {
  MESSAGE_STATES,
  messageState,
  type QueueFilter,
  recipientState,
} from "../../queue/queue_filter.ts";

/** Only the start of a message is read for its subject. */
const HEAD_BYTES = 16 * 1024;

/** The page of a queued message. */
export function qid(id: string): string {
  return `/queue/${encodeURIComponent(id)}`;
}

function button(action: string, label: string, back: string, confirm = ""): Html {
  return html`
    <form method="post" action="${action}" class="inline" data-confirm="${confirm}">
      <input type="hidden" name="back" value="${back}">
      <button type="submit">${label}</button>
    </form>
  `;
}

/** The per-message action buttons; each returns to `back`. */
export function messageActions(m: QueueListing, back: string): Html {
  const base = qid(m.id);
  return html`
    <div class="actions">
      ${m.held ? button(`${base}/release`, "Release", back) : button(`${base}/hold`, "Hold", back)}
      ${button(`${base}/flush`, "Flush", back)}
      ${button(`${base}/delete`, "Delete", back, `Delete message ${m.id} for good?`)}
    </div>
  `;
}

function nextTry(nextAttempt: number, now: number): string {
  return nextAttempt > now ? `next try in ${formatDuration((nextAttempt - now) / 1000)}` : "due";
}

function recipientItem(r: RecipientStatus, now: number): Html {
  const state = recipientState(r);
  const waiting = state === "queued" || state === "deferred";
  const notes = [r.attempts > 0 ? `${r.attempts}×` : "", waiting ? nextTry(r.nextAttempt, now) : ""]
    .filter((n) => n !== "").join(" · ");
  return html`
    <li>
      <span class="addr">${r.address}</span>
      <span class="badge ${state}">${state}</span>
      <span class="muted">${notes}</span>
      ${r.lastError ? html`<div class="error-text">${r.lastError}</div>` : ""}
    </li>
  `;
}

/** A message's recipients with state, attempts, next try and last error. */
export function recipientList(m: QueueListing, now: number): Html {
  return html`<ul class="rcpts">${m.recipients.map((r) => recipientItem(r, now))}</ul>`;
}

/** The subject of a queued message, from the start of its bytes. */
export function subjectOf(data: Uint8Array | undefined): string {
  if (data === undefined) return "";
  return firstFields(data.subarray(0, HEAD_BYTES)).get("subject") ?? "";
}

function queueRow(m: QueueListing, now: number, back: string, subject: string): Html {
  const state = messageState(m);
  return html`
    <tr id="msg-${m.id}" data-id="${m.id}">
      <td><a class="mono" href="${qid(m.id)}">${m.id}</a></td>
      <td class="subject">${subject || "(no subject)"}</td>
      <td class="addr">${m.sender || "<>"}</td>
      <td>${recipientList(m, now)}</td>
      <td class="num">${formatBytes(m.size)}</td>
      <td class="num" title="${formatTime(m.receivedAt)} UTC">
        ${formatDuration((now - m.receivedAt) / 1000)}
      </td>
      <td><span class="badge ${state}">${state}</span></td>
      <td>${messageActions(m, back)}</td>
    </tr>
  `;
}

/**
 * The queue table (or the empty note) for `messages`.
 *
 * @param back Where the row actions return to.
 * @param subject The subject of a message, by id.
 */
export function queueTable(
  messages: readonly QueueListing[],
  now: number,
  back: string,
  subject: (id: string) => string = () => "",
): Html {
  if (messages.length === 0) {
    return html`<p class="empty" id="queue-empty">The queue is empty.</p>`;
  }
  return html`
    <table class="queue" id="queue-table">
      <thead>
        <tr>
          <th>Message</th>
          <th>Subject</th>
          <th>Sender</th>
          <th>Recipients</th>
          <th>Size</th>
          <th>Age</th>
          <th>State</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${messages.map((m) => queueRow(m, now, back, subject(m.id)))}
      </tbody>
    </table>
  `;
}

/** The filter form, holding the filters in force. */
export function filterForm(filter: QueueFilter): Html {
  const options = MESSAGE_STATES.map((s) =>
    html`<option value="${s}" ${filter.state === s ? "selected" : ""}>${s}</option>`
  );
  return html`
    <form method="get" action="/queue" class="filters">
      <label>Sender
        <input name="sender" value="${filter.sender}" placeholder="part of address">
      </label>
      <label>Recipient
        <input name="recipient" value="${filter.recipient}" placeholder="part of address">
      </label>
      <label>Domain
        <input name="domain" value="${filter.domain}" placeholder="example.org">
      </label>
      <label>State
        <select name="state"><option value="">any</option>${options}</select>
      </label>
      <button type="submit">Filter</button>
      <a href="/queue">Clear</a>
    </form>
  `;
}

/** A message's delivery attempts, oldest first. */
export function attemptTable(attempts: readonly AttemptRecord[]): Html {
  if (attempts.length === 0) return html`<p class="muted">No delivery attempt yet.</p>`;
  return html`
    <table class="compact" id="attempts">
      <thead>
        <tr>
          <th>Time (UTC)</th>
          <th>Recipient</th>
          <th>Outcome</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>${attempts.map((a) =>
        html`
          <tr>
            <td class="nowrap">${formatTime(a.at)}</td>
            <td class="addr">${a.address}</td>
            <td><span class="badge ${a.status}">${a.status}</span></td>
            <td class="error-text">${a.detail ?? ""}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}
