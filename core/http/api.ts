/**
 * The JSON admin API under `/api`, one file per concept:
 *
 * | Prefix | File |
 * |---|---|
 * | `/api/queue` | `api_queue.ts` |
 * | `/api/users` | `api_users.ts` |
 * | `/api/aliases` | `api_aliases.ts` |
 * | `/api/mailboxes` | `api_mailboxes.ts` |
 * | `/api/stats` | `api_stats.ts` |
 * | `/api/events` | `api_events.ts` (Server-Sent Events) |
 * | `/api/terminal` | `api_terminal.ts` (Server-Sent Events) |
 *
 * `/api/health` is in `app.ts` (it is open). Every reply is JSON except the
 * raw messages (`message/rfc822`) and the event streams; errors are
 * `{"error": "…"}` with the status that fits (400, 404, 405, 409, 413, 415).
 *
 * @module
 */
import { Hono } from "hono";
import { aliasRoutes } from "./api_aliases.ts";
import { eventRoutes } from "./api_events.ts";
import { mailboxRoutes } from "./api_mailboxes.ts";
import { queueRoutes } from "./api_queue.ts";
import { statsRoutes } from "./api_stats.ts";
import { terminalRoutes } from "./api_terminal.ts";
import { userRoutes } from "./api_users.ts";
import type { Lifecycle } from "./app.ts";
import type { AdminDeps } from "./deps.ts";

/** The `/api` routes. */
export function apiRoutes(deps: AdminDeps, lifecycle: Lifecycle): Hono {
  const app = new Hono();
  app.route("/queue", queueRoutes(deps));
  app.route("/users", userRoutes(deps));
  app.route("/aliases", aliasRoutes(deps));
  app.route("/mailboxes", mailboxRoutes(deps));
  app.route("/stats", statsRoutes(deps));
  app.route("/events", eventRoutes(deps, lifecycle));
  app.route("/terminal", terminalRoutes(deps, lifecycle));
  return app;
}
