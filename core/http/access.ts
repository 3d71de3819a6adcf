/**
 * Who may use the admin HTTP API and web UI. `/api/health` and `/metrics`
 * are open (load balancers, Prometheus) and so are the login page and the
 * UI's static assets; everything else needs the admin token, as
 * `Authorization: Bearer <token>` or as the web UI's session cookie. A
 * cookie-authenticated request that changes something must come from our own
 * origin, so another site cannot ride on the cookie (CSRF).
 *
 * @module
 */
import { createHmac } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { tokenMatches } from "./token.ts";

/** The web UI's session cookie. */
export const SESSION_COOKIE = "postino_session";

const OPEN_PATHS = new Set(["/api/health", "/metrics", "/login", "/logout"]);
const OPEN_PREFIXES = ["/assets/"];
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Whether `path` needs no token. */
export function isOpenPath(path: string): boolean {
  return OPEN_PATHS.has(path) || OPEN_PREFIXES.some((prefix) => path.startsWith(prefix));
}

/**
 * The cookie value for a token: an HMAC of it, so the cookie is not the token
 * itself and a new token (`rm admin-token`, restart) ends every session.
 */
export function sessionValue(token: string): string {
  return createHmac("sha256", token).update("postino web ui session").digest("base64url");
}

function bearer(c: Context): string | undefined {
  const header = c.req.header("authorization");
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Whether a cookie-carrying request comes from the page we served. */
function sameOrigin(c: Context): boolean {
  const origin = c.req.header("origin");
  if (origin === undefined) return c.req.header("sec-fetch-site") === "same-origin";
  try {
    return new URL(origin).host === new URL(c.req.url).host;
  } catch {
    return false;
  }
}

function refuse(c: Context, status: 401 | 403, error: string): Response {
  const path = c.req.path;
  if (status === 401 && !path.startsWith("/api/") && SAFE_METHODS.has(c.req.method)) {
    // A browser asking for a page: show the login form instead.
    return c.redirect(`/login?next=${encodeURIComponent(path)}`, 303);
  }
  c.header("WWW-Authenticate", 'Bearer realm="postino"');
  return c.json({ error }, status);
}

/** The access middleware. `open` waives the token (development, loopback only). */
export function requireToken(token: string, open: boolean): MiddlewareHandler {
  const session = sessionValue(token);
  return async (c, next) => {
    if (open || isOpenPath(c.req.path)) return await next();
    const presented = bearer(c);
    if (presented !== undefined) {
      if (!tokenMatches(presented, token)) return refuse(c, 401, "invalid token");
      return await next();
    }
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie === undefined || !tokenMatches(cookie, session)) {
      return refuse(c, 401, "authentication required");
    }
    if (!SAFE_METHODS.has(c.req.method) && !sameOrigin(c)) {
      return refuse(c, 403, "cross-site request refused");
    }
    return await next();
  };
}
