/**
 * The web UI, mounted at `/`: server-rendered pages (hono `html`
 * templates), one file per page, sharing `layout.ts`; `/assets/*` serves
 * the script and stylesheet compiled into the program. Pages read and
 * steer the live server through {@linkcode AdminDeps}, like the JSON API,
 * whose endpoints the pages' script uses for the live parts.
 *
 * @module
 */
import { Hono } from "hono";
import type { Lifecycle } from "../app.ts";
import type { AdminDeps } from "../deps.ts";
import { assetRoutes } from "./assets.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { eventRoutes } from "./events.ts";
import { loginRoutes } from "./login.ts";
import { mailboxRoutes } from "./mailboxes.ts";
import { queueRoutes } from "./queue.ts";
import { terminalRoutes } from "./terminal.ts";
import { userRoutes } from "./users.ts";

/** The web UI routes, mounted at `/`. */
export function uiRoutes(deps: AdminDeps, _lifecycle: Lifecycle): Hono {
  const app = new Hono();
  app.route("/", assetRoutes());
  app.route("/", loginRoutes(deps));
  app.route("/", dashboardRoutes(deps));
  app.route("/", queueRoutes(deps));
  app.route("/", mailboxRoutes(deps));
  app.route("/", userRoutes(deps));
  app.route("/", eventRoutes(deps));
  app.route("/", terminalRoutes(deps));
  return app;
}
