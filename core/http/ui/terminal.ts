/**
 * `/terminal`: the web UI as a user's terminal (RFC 821 SEND, SOML and
 * SAML). Pick a user; while the page is open, `app.js` holds the
 * `/api/terminal/:address` stream and shows each message as it arrives.
 *
 * @module
 */
import { Hono } from "hono";
import { html } from "hono/html";
import type { User } from "../../store/directory.ts";
import type { AdminDeps } from "../deps.ts";
import { type Html, notice, sendPage } from "./layout.ts";

function picker(deps: AdminDeps, chosen: string): Html {
  const users = deps.directory.listUsers();
  if (users.length === 0) {
    return html`<p class="muted">There are no users yet: <a href="/users">add one</a>.</p>`;
  }
  const options = users.map((u) => {
    const label = u.name ? `${u.address} (${u.name})` : u.address;
    return html`<option value="${u.address}" ${
      u.address === chosen ? "selected" : ""
    }>${label}</option>`;
  });
  return html`
    <form method="get" action="/terminal" class="filters" id="pick-terminal">
      <label>User <select name="address">${options}</select></label>
      <button type="submit" class="primary">Open terminal</button>
    </form>
  `;
}

function screen(user: User): Html {
  const stream = `/api/terminal/${encodeURIComponent(user.address)}`;
  return html`
    <div class="page-head">
      <h2>Terminal of <span class="addr">${user.address}</span></h2>
      <span class="live-status" id="stream-status">connecting…</span>
    </div>
    <div class="terminal" id="terminal" data-terminal="${stream}">
      <ol id="terminal-lines">
        <li class="waiting">Waiting for messages to ${user.address} (SEND, SOML or SAML)…</li>
      </ol>
    </div>
  `;
}

/** The terminal route. */
export function terminalRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get("/terminal", (c) => {
    const chosen = (c.req.query("address") ?? "").trim();
    const user = chosen === "" ? undefined : deps.directory.getUser(chosen);
    const enabled = deps.config().plugins.some((p) => p.name === "terminal");
    const warning = enabled
      ? ""
      : notice("The terminal plugin is off, so SEND, SOML and SAML are refused.", "error");
    const shown = user !== undefined
      ? screen(user)
      : chosen === ""
      ? ""
      : notice(`There is no user ${chosen}.`, "error");
    return sendPage(c, {
      title: "Terminal",
      active: "/terminal",
      page: "terminal",
      version: deps.version,
      body: html`
        <h1>Terminal</h1>
        <p class="muted">
          Messages sent to a user with SEND, SOML or SAML (RFC 821) show up here while this page is
          open.
        </p>
        ${warning} ${picker(deps, user?.address ?? chosen)} ${shown}
      `,
    });
  });
  return app;
}
