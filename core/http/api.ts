/**
 * The JSON admin API under `/api`. (Routes are added by the admin API work.)
 *
 * @module
 */
import { Hono } from "hono";
import type { Lifecycle } from "./app.ts";
import type { AdminDeps } from "./deps.ts";

/** The `/api` routes. */
export function apiRoutes(_deps: AdminDeps, _lifecycle: Lifecycle): Hono {
  return new Hono();
}
