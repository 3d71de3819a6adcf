/**
 * `GET /api/stats`: a small live snapshot for the dashboard, which polls it
 * every 2 s and draws throughput from the differences of the totals.
 *
 * ```json
 * { "time": 1700000000000, "uptimeSeconds": 3600, "connections": 2,
 *   "queue": { "messages": 5, "held": 1, "oldestAgeSeconds": 120 },
 *   "totals": { "connections": 40, "accepted": 31, "rejected": 4,
 *               "delivered": 29, "deferred": 3, "bounced": 1 } }
 * ```
 *
 * `totals` count since the server started: `delivered`, `deferred` and
 * `bounced` per recipient attempt, `accepted` per message.
 *
 * @module
 */
import { Hono } from "hono";
import type { AdminDeps } from "./deps.ts";
import { methodNotAllowed } from "./request.ts";

/** The queue's depth as health and stats report it, ages measured at `now`. */
export function queueSummary(
  deps: AdminDeps,
  now: number,
): { messages: number; held: number; oldestAgeSeconds: number | null } {
  const depth = deps.spool.depth();
  return {
    messages: depth.messages,
    held: depth.held,
    oldestAgeSeconds: depth.oldestReceivedAt === undefined
      ? null
      : Math.max(0, Math.round((now - depth.oldestReceivedAt) / 1000)),
  };
}

/** The body of `GET /api/stats`. */
export function stats(deps: AdminDeps): Record<string, unknown> {
  const now = deps.now();
  return {
    time: now,
    uptimeSeconds: Math.max(0, Math.round((now - deps.startedAt) / 1000)),
    connections: deps.connections(),
    queue: queueSummary(deps, now),
    totals: deps.metrics.totals(),
  };
}

/** The `/api/stats` route. */
export function statsRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get("/", (c) => c.json(stats(deps)));
  app.all("/", methodNotAllowed("GET"));
  return app;
}
