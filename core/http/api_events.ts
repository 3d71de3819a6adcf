/**
 * `GET /api/events`: the mail events (connect, queued, delivered, reject, …)
 * as Server-Sent Events, one `event: mail` per log event:
 *
 * ```
 * id: 42
 * event: mail
 * data: {"seq":42,"time":1700000000000,"name":"queued","fields":{"id":"…"}}
 * ```
 *
 * A client that reconnects with `Last-Event-ID` (or asks `?since=SEQ`) first
 * gets the events after that one that the bus still keeps (the last 500).
 * Log events never carry AUTH secrets (the protocol trace, which could,
 * is not on the bus); as a second fence, fields whose name suggests a
 * secret are blanked.
 *
 * @module
 */
import { Hono } from "hono";
import type { Lifecycle } from "./app.ts";
import type { MailEvent } from "../events.ts";
import type { AdminDeps } from "./deps.ts";
import { fail, methodNotAllowed } from "./request.ts";
import { type SseOptions, sseResponse } from "./sse.ts";

const SECRET_FIELD = /pass|secret|credential|token/i;

/** The event as sent: fields that could name a secret are blanked. */
export function publicEvent(event: MailEvent): MailEvent {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event.fields)) {
    fields[key] = SECRET_FIELD.test(key) ? "[redacted]" : value;
  }
  return { seq: event.seq, time: event.time, name: event.name, fields } as MailEvent;
}

/** `Last-Event-ID` or `?since=`: the last seq the client has, if any. */
function resumeAfter(
  lastEventId: string | undefined,
  since: string | undefined,
): number | undefined {
  if (since !== undefined && since !== "") {
    if (!/^\d{1,15}$/.test(since)) fail(400, '"since" must be a non-negative integer');
    return Number(since);
  }
  // A browser echoes what we sent; anything else is ignored, not refused.
  return lastEventId !== undefined && /^\d{1,15}$/.test(lastEventId.trim())
    ? Number(lastEventId.trim())
    : undefined;
}

/** The `/api/events` route; `stream` tunes heartbeats and buffers (tests). */
export function eventRoutes(
  deps: AdminDeps,
  lifecycle: Lifecycle,
  stream: Partial<SseOptions> = {},
): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const after = resumeAfter(c.req.header("last-event-id"), c.req.query("since"));
    return sseResponse({ ...stream, lifecycle, signal: c.req.raw.signal }, (out) => {
      const write = (event: MailEvent) =>
        out.send({ id: event.seq, event: "mail", data: JSON.stringify(publicEvent(event)) });
      if (after !== undefined) { for (const event of deps.events.recent(after)) write(event); }
      return deps.events.subscribe(write);
    });
  });
  app.all("/", methodNotAllowed("GET"));
  return app;
}
