/**
 * `GET /login`, `POST /login` and `POST /logout`: the web UI trades the
 * admin token for an HttpOnly, SameSite=Strict session cookie (its value
 * is `sessionValue(token)`, never the token), and back to the page it was
 * sent from, which must be one of ours (no open redirect).
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import { SESSION_COOKIE, sessionValue } from "../access.ts";
import type { AdminDeps } from "../deps.ts";
import { tokenMatches } from "../token.ts";
import { bareLayout, type Html, notice, sendHtml } from "./layout.ts";
import { LoginLimiter } from "./login_limiter.ts";

const BASE = "http://postino.invalid";

/**
 * Where to go after logging in: `next` when it is a path on this server,
 * `/` otherwise. Refuses absolute and scheme-relative URLs, backslashes
 * (browsers read `/\evil` as `//evil`) and control characters.
 *
 * @example
 * ```ts
 * safeNext("/queue?state=held"); // "/queue?state=held"
 * safeNext("//evil.example/"); // "/"
 * ```
 */
export function safeNext(next: unknown): string {
  if (typeof next !== "string" || !next.startsWith("/") || next.startsWith("//")) return "/";
  // deno-lint-ignore no-control-regex
  if (/[\\\x00-\x20\x7f]/.test(next)) return "/";
  let url: URL;
  try {
    url = new URL(next, BASE);
  } catch {
    return "/";
  }
  if (url.origin !== BASE) return "/";
  if (url.pathname === "/login" || url.pathname === "/logout") return "/";
  return url.pathname + url.search + url.hash;
}

/**
 * The client's address, when the runtime seam hands one to the app as
 * `{ remoteAddress }` (hono's `c.env`); `undefined` otherwise.
 */
export function clientAddress(c: Context): string | undefined {
  const env: unknown = c.env;
  if (typeof env === "object" && env !== null && "remoteAddress" in env) {
    const address = (env as { remoteAddress: unknown }).remoteAddress;
    if (typeof address === "string" && address !== "") return address;
  }
  return undefined;
}

function loginForm(next: string, error?: string): Html {
  return bareLayout(
    "Log in",
    "login",
    html`
      <section class="card login">
        <h1><span class="stamp" aria-hidden="true">✉</span> Postino</h1>
        <p class="muted">Log in with the admin token.</p>
        ${notice(error, "error")}
        <form method="post" action="/login">
          <label for="token">Admin token</label>
          <input id="token" name="token" type="password" autocomplete="off" required autofocus>
          <input type="hidden" name="next" value="${next}">
          <button type="submit" class="primary">Log in</button>
        </form>
        <p class="hint">Print it on the server with <code>postino admin token</code>.</p>
      </section>
    `,
  );
}

function isSameOrigin(c: Context): boolean {
  const origin = c.req.header("origin");
  if (origin === undefined) return true; // non-browser client: no cookie to ride on
  try {
    return new URL(origin).host === new URL(c.req.url).host;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The login and logout routes. `limiter` is shared by all clients of one app. */
export function loginRoutes(deps: AdminDeps, limiter = new LoginLimiter()): Hono {
  const app = new Hono();
  app.get("/login", (c) => sendHtml(c, loginForm(safeNext(c.req.query("next")))));
  app.post("/login", async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(form["next"]);
    const address = clientAddress(c);
    const key = address ?? "unknown";
    // Without the client's address all clients share one count: then failures
    // only slow the answers, so nobody can lock the admin out of the form.
    const wait = address === undefined ? 0 : limiter.retryAfter(key);
    if (wait > 0) {
      const minutes = Math.ceil(wait / 60_000);
      c.header("Retry-After", String(Math.ceil(wait / 1000)));
      const error = `Too many failed logins. Try again in ${minutes} minute${
        minutes === 1 ? "" : "s"
      }.`;
      return sendHtml(c, loginForm(next, error), 429);
    }
    const token = typeof form["token"] === "string" ? form["token"].trim() : "";
    if (!tokenMatches(token, deps.token)) {
      await sleep(limiter.failed(key));
      return sendHtml(c, loginForm(next, "That is not the admin token."), 401);
    }
    limiter.succeeded(key);
    setCookie(c, SESSION_COOKIE, sessionValue(deps.token), {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
      secure: new URL(c.req.url).protocol === "https:",
    });
    return c.redirect(next, 303);
  });
  app.post("/logout", (c) => {
    // /logout needs no session, so another site must not be able to end ours.
    if (!isSameOrigin(c)) return c.json({ error: "cross-site request refused" }, 403);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/login", 303);
  });
  return app;
}
