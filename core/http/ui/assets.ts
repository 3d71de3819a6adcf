/**
 * `/assets/*`: the stylesheet, the script and the icon, from constants
 * compiled into the program (no files to ship next to the binary). These
 * paths are open (`access.ts`), so the login page can use them.
 *
 * @module
 */
import { Hono } from "hono";
import { APP_CSS } from "./app_css.ts";
import { APP_JS } from "./app_js.ts";

/** An envelope with a stamp, in the UI's colours. */
export const FAVICON_SVG =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect x="2" y="7" width="28" height="19" rx="3" fill="#1f3a5f"/><path d="M3 9l13 9 13-9" fill="none" stroke="#fff" stroke-width="2"/><rect x="22" y="10" width="5" height="5" fill="#d9480f"/></svg>`;

const ASSETS: Record<string, { type: string; body: string }> = {
  "app.css": { type: "text/css; charset=utf-8", body: APP_CSS },
  "app.js": { type: "text/javascript; charset=utf-8", body: APP_JS },
  "favicon.svg": { type: "image/svg+xml", body: FAVICON_SVG },
};

/** The asset routes. */
export function assetRoutes(): Hono {
  const app = new Hono();
  app.get("/assets/:name", (c) => {
    const asset = ASSETS[c.req.param("name")];
    if (asset === undefined) return c.notFound();
    // Revalidated on each load: a new binary may change them at any restart.
    c.header("Cache-Control", "no-cache");
    c.header("Content-Type", asset.type);
    return c.body(asset.body);
  });
  return app;
}
