/**
 * The admin HTTP app (hono): access control, `/api/health`, the JSON API
 * under `/api`, `/metrics` and the web UI. `cli/serve.ts` serves its `fetch`
 * through the runtime seam (`core/runtime/http.ts`).
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { requireToken } from "./access.ts";
import { apiRoutes } from "./api.ts";
import { queueSummary } from "./api_stats.ts";
import type { AdminDeps } from "./deps.ts";
import { metricsHandler } from "./metrics_route.ts";
import { uiRoutes } from "./ui/routes.ts";

/** Lets routes with long-lived responses (event streams) end them at shutdown. */
export interface Lifecycle {
  /** Registers `fn` to run when the app closes; returns its unregister function. */
  onClose(fn: () => void): () => void;
}

/** The app and its shutdown. */
export interface AdminApp {
  /** `info.remoteAddress` reaches the routes as hono's `c.env` (the login limiter uses it). */
  fetch(
    request: Request,
    info?: { remoteAddress: string | undefined },
  ): Response | Promise<Response>;
  /** Ends open event streams, so the HTTP listener can stop. */
  close(): void;
}

/** The body of `GET /api/health`. */
export function health(deps: AdminDeps): Record<string, unknown> {
  const now = deps.now();
  const listeners = deps.listeners();
  const ready = !deps.stopping() && listeners.length > 0;
  return {
    status: deps.stopping() ? "stopping" : ready ? "ok" : "starting",
    version: deps.version,
    commit: deps.commit,
    runtime: deps.runtime,
    uptimeSeconds: Math.round((now - deps.startedAt) / 1000),
    listeners,
    connections: deps.connections(),
    queue: queueSummary(deps, now),
  };
}

/** Builds the admin app over the live server's parts. */
export function createAdminApp(deps: AdminDeps): AdminApp {
  const closers = new Set<() => void>();
  const lifecycle: Lifecycle = {
    onClose(fn) {
      closers.add(fn);
      return () => void closers.delete(fn);
    },
  };
  const app = new Hono();
  app.use("*", async (c, next) => {
    await next();
    // The admin pages never belong in a frame or a shared cache.
    c.header("X-Frame-Options", "DENY");
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "same-origin");
    if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
  });
  app.use("*", requireToken(deps.token, deps.open));
  // Liveness and readiness: 200 while serving, 503 when starting or stopping.
  app.get("/api/health", (c) => {
    const body = health(deps);
    return c.json(body, body.status === "ok" ? 200 : 503);
  });
  app.get("/metrics", metricsHandler(deps));
  app.route("/api", apiRoutes(deps, lifecycle));
  app.route("/", uiRoutes(deps, lifecycle));
  app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));
  app.onError((error, c) => {
    if (error instanceof HTTPException) {
      return c.json({ error: error.message || "request refused" }, error.status);
    }
    return c.json({ error: "internal error" }, 500);
  });
  return {
    fetch: (request, info) => app.fetch(request, info),
    close() {
      for (const fn of [...closers]) {
        try {
          fn();
        } catch {
          // Closing one stream must not keep the others open.
        }
      }
      closers.clear();
    },
  };
}
