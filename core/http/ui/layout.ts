/**
 * The shared page shell: head, the nav bar and the strict Content Security
 * Policy every web UI page is sent with. Pages are hono `html` templates,
 * which escape every interpolated value, so text from mail or users can
 * never become markup; only other templates pass through unescaped.
 *
 * @module
 */
import type { Context } from "hono";
import { html } from "hono/html";

/** A rendered fragment (hono's escaped-HTML string). */
export type Html = ReturnType<typeof html>;

/**
 * The policy for every UI page: our own scripts, styles, images and
 * connections only; no inline script or style, no framing, no plugins.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The nav bar's pages: path and label. */
export const NAV: readonly (readonly [string, string])[] = [
  ["/", "Dashboard"],
  ["/queue", "Queue"],
  ["/mailboxes", "Mailboxes"],
  ["/users", "Users"],
  ["/events", "Events"],
  ["/terminal", "Terminal"],
];

/** What {@linkcode layout} needs besides the page body. */
export interface PageOptions {
  /** The page title, before " · Postino". */
  title: string;
  /** The nav entry to mark as current (a path from {@linkcode NAV}). */
  active: string;
  /** `data-page` on `<body>`: tells `app.js` what to run. */
  page: string;
  /** Shown in the footer. */
  version: string;
  body: Html;
}

function head(title: string): Html {
  return html`
    <head>
      <meta charset="utf-8">
      <meta name="viewport" content="width=device-width, initial-scale=1">
      <meta name="referrer" content="same-origin">
      <title>${title} · Postino</title>
      <link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
      <link rel="stylesheet" href="/assets/app.css">
      <script src="/assets/app.js" defer></script>
    </head>
  `;
}

function navLink([path, label]: readonly [string, string], active: string): Html {
  const current = path === active;
  const [className, aria] = current ? ["current", "page"] : ["", "false"];
  return html`<a href="${path}" class="${className}" aria-current="${aria}">${label}</a>`;
}

/**
 * A whole page with the nav bar.
 *
 * @example
 * ```ts
 * layout({ title: "Queue", active: "/queue", page: "queue", version: "0.1.0", body: html`<p>…</p>` });
 * ```
 */
export function layout(options: PageOptions): Html {
  return html`
    <!doctype html>
    <html lang="en">
      ${head(options.title)}
      <body data-page="${options.page}">
        <header class="top">
          <a class="brand" href="/"><span class="stamp" aria-hidden="true">✉</span> Postino</a>
          <nav>${NAV.map((entry) => navLink(entry, options.active))}</nav>
          <form method="post" action="/logout" class="logout">
            <button type="submit" class="link">Log out</button>
          </form>
        </header>
        <main>${options.body}</main>
        <footer>Postino ${options.version}</footer>
      </body>
    </html>
  `;
}

/** A page without the nav bar (the login form). */
export function bareLayout(title: string, page: string, body: Html): Html {
  return html`
    <!doctype html>
    <html lang="en">
      ${head(title)}
      <body data-page="${page}" class="bare">
        <main>${body}</main>
      </body>
    </html>
  `;
}

/** A notice or error box; nothing when `text` is empty. */
export function notice(text: string | undefined, tone: "ok" | "error" = "ok"): Html | "" {
  if (!text) return "";
  const role = tone === "error" ? "alert" : "status";
  return html`<p class="notice ${tone}" role="${role}">${text}</p>`;
}

/** Renders `body` in the layout with the page headers (CSP, no caching). */
export function sendPage(
  c: Context,
  options: PageOptions,
  status: 200 | 401 | 404 | 422 | 429 = 200,
): Response | Promise<Response> {
  return sendHtml(c, layout(options), status);
}

/** Sends a rendered document with the page headers. */
export function sendHtml(
  c: Context,
  document: Html,
  status: 200 | 401 | 404 | 422 | 429 = 200,
): Response | Promise<Response> {
  c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
  return c.html(document, status);
}
