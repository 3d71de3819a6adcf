/**
 * `/api/queue`: the outgoing queue, as `postino queue` shows and steers it,
 * on the live server. Flush and release wake the scheduler, so delivery
 * starts at once instead of at the next spool poll.
 *
 * | Route | Does |
 * |---|---|
 * | `GET /api/queue` | list; `?sender=`, `?recipient=` (substrings), `?domain=`, `?state=`, `?limit=`, `?offset=` |
 * | `GET /api/queue/:id` | one message, its header fields and its attempt log |
 * | `GET /api/queue/:id/raw` | the message source (`message/rfc822`) |
 * | `POST /api/queue/flush` | every queued recipient due now (optional `{"domain"}`) |
 * | `POST /api/queue/:id/flush` | one message due now |
 * | `POST /api/queue/:id/hold`, `…/release` | hold or release one message |
 * | `DELETE /api/queue/:id` | remove one message (never delivered or bounced) |
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { queueListingJson } from "../queue/queue_json.ts";
import type { QueueListing } from "../queue/spool.ts";
import { filterQueue, MESSAGE_STATES, type QueueFilter } from "../queue/queue_filter.ts";
import { isValidDomain } from "../smtp/address.ts";
import { headerFields } from "../store/header_fields.ts";
import type { AdminDeps } from "./deps.ts";
import {
  fail,
  methodNotAllowed,
  onlyFields,
  pageQuery,
  readJsonObject,
  stringField,
} from "./request.ts";

/**
 * The `?state=` values of `GET /api/queue`: a message's one state, as the web
 * UI's filter has it (held beats delivering beats deferred beats queued), and
 * `leased`, the spool's word for `delivering`.
 */
export const QUEUE_STATES: readonly string[] = [...MESSAGE_STATES, "leased"];

function filterFrom(c: Context): QueueFilter {
  const filter: QueueFilter = {};
  const sender = c.req.query("sender");
  const recipient = c.req.query("recipient");
  const domain = c.req.query("domain");
  const state = c.req.query("state");
  if (sender) filter.sender = sender;
  if (recipient) filter.recipient = recipient;
  if (domain) filter.domain = domain.trim();
  if (state) {
    if (!QUEUE_STATES.includes(state)) {
      fail(400, `"state" must be one of ${QUEUE_STATES.join(", ")}`);
    }
    filter.state = state === "leased" ? "delivering" : state;
  }
  return filter;
}

/** The `:id` parameter, checked for shape (ids are short and alphanumeric). */
function queueId(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) fail(400, `invalid queue id: ${JSON.stringify(id)}`);
  return id;
}

function listingOr404(deps: AdminDeps, id: string): QueueListing {
  const listing = deps.spool.listing(id);
  if (listing === undefined) fail(404, `no such message in the queue: ${id}`);
  return listing;
}

/** The `/api/queue` routes. */
export function queueRoutes(deps: AdminDeps): Hono {
  const app = new Hono();

  app.get("/", (c) => {
    const filter = filterFrom(c);
    const { limit, offset } = pageQuery(c);
    const now = deps.now();
    const all = filterQueue(deps.spool.list(), filter);
    return c.json({
      total: all.length,
      messages: all.slice(offset, offset + limit).map((m) => queueListingJson(m, now)),
    });
  });
  app.all("/", methodNotAllowed("GET"));

  app.post("/flush", async (c) => {
    const body = await readJsonObject(c, { optional: true });
    onlyFields(body, ["domain"]);
    const domain = stringField(body, "domain")?.trim().toLowerCase().replace(/\.$/, "");
    if (domain !== undefined && !isValidDomain(domain)) {
      fail(400, `invalid domain: ${JSON.stringify(body["domain"])}`);
    }
    const flushed = deps.spool.flush(domain === undefined ? {} : { domain });
    deps.wakeScheduler();
    return c.json({ flushed });
  });
  app.all("/flush", methodNotAllowed("POST"));

  app.get("/:id", (c) => {
    const id = queueId(c);
    const listing = listingOr404(deps, id);
    const stored = deps.spool.stored(id);
    if (stored === undefined) fail(404, `no such message in the queue: ${id}`);
    return c.json({
      ...queueListingJson(listing, deps.now()),
      isBounce: stored.isBounce,
      params: stored.params,
      headers: headerFields(stored.data),
      attempts: deps.spool.attempts(id).map((a) => ({
        address: a.address,
        at: new Date(a.at).toISOString(),
        status: a.status,
        detail: a.detail ?? null,
      })),
    });
  });

  app.delete("/:id", (c) => {
    const id = queueId(c);
    if (!deps.spool.remove(id)) fail(404, `no such message in the queue: ${id}`);
    return c.json({ deleted: id });
  });
  app.all("/:id", methodNotAllowed("GET", "DELETE"));

  app.get("/:id/raw", (c) => {
    const id = queueId(c);
    const stored = deps.spool.stored(id);
    if (stored === undefined) fail(404, `no such message in the queue: ${id}`);
    return c.body(stored.data as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": "message/rfc822",
    });
  });
  app.all("/:id/raw", methodNotAllowed("GET"));

  app.post("/:id/flush", (c) => {
    const id = queueId(c);
    listingOr404(deps, id);
    const flushed = deps.spool.flush({ id });
    deps.wakeScheduler();
    return c.json({ flushed });
  });
  app.all("/:id/flush", methodNotAllowed("POST"));

  app.post("/:id/hold", (c) => {
    const id = queueId(c);
    if (!deps.spool.hold(id, true)) fail(404, `no such message in the queue: ${id}`);
    return c.json({ id, held: true });
  });
  app.all("/:id/hold", methodNotAllowed("POST"));

  app.post("/:id/release", (c) => {
    const id = queueId(c);
    if (!deps.spool.hold(id, false)) fail(404, `no such message in the queue: ${id}`);
    deps.wakeScheduler();
    return c.json({ id, held: false });
  });
  app.all("/:id/release", methodNotAllowed("POST"));

  return app;
}
