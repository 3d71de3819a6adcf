/**
 * The web UI's pages. (Pages are added by the web UI work.)
 *
 * @module
 */
import { Hono } from "hono";
import type { Lifecycle } from "../app.ts";
import type { AdminDeps } from "../deps.ts";

/** The web UI routes, mounted at `/`. */
export function uiRoutes(_deps: AdminDeps, _lifecycle: Lifecycle): Hono {
  return new Hono();
}
