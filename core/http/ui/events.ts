/**
 * `/events`: the live mail-event log. The page starts with the events the
 * bus kept, newest first; `app.js` then adds new ones from the
 * `/api/events` stream at the top and drops the oldest past the cap.
 *
 * @module
 */
import { Hono } from "hono";
import { html } from "hono/html";
import type { MailEvent } from "../../events.ts";
import { publicEvent } from "../api_events.ts";
import type { AdminDeps } from "../deps.ts";
import { eventSummary, eventTone, formatTime } from "./format.ts";
import { type Html, sendPage } from "./layout.ts";

/** How many events the log page keeps. */
export const EVENTS_SHOWN = 200;

/**
 * One event as a list item (the same markup `app.js` builds for new ones),
 * with the fields the event stream blanks blanked here too.
 */
export function eventItem(event: MailEvent): Html {
  event = publicEvent(event);
  const iso = new Date(event.time).toISOString();
  const tone = eventTone(event.name, event.fields);
  return html`
    <li class="event ${tone}" data-seq="${event.seq}">
      <time datetime="${iso}" title="${formatTime(event.time)} UTC">${iso.slice(11, 19)}</time>
      <span class="name">${event.name}</span>
      <span class="fields">${eventSummary(event.fields)}</span>
    </li>
  `;
}

/**
 * The newest `cap` of `events` as an `<ol>` that `app.js` keeps live.
 *
 * @param id The list's element id.
 */
export function eventList(events: readonly MailEvent[], cap: number, id: string): Html {
  const newest = events.slice(-cap).reverse();
  const items = newest.length === 0
    ? html`<li class="placeholder muted">No events yet: they show up here as mail moves.</li>`
    : newest.map(eventItem);
  return html`<ol class="events" id="${id}" data-events data-cap="${cap}">${items}</ol>`;
}

/** The event log route. */
export function eventRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get("/events", (c) =>
    sendPage(c, {
      title: "Events",
      active: "/events",
      page: "events",
      version: deps.version,
      body: html`
        <div class="page-head">
          <h1>Events <small>newest first, the last ${EVENTS_SHOWN}</small></h1>
          <span class="live-status" id="stream-status">connecting…</span>
        </div>
        <section class="card">${eventList(deps.events.recent(), EVENTS_SHOWN, "events")}</section>
      `,
    }));
  return app;
}
