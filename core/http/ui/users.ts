/**
 * `/users`: local users and aliases. Lists them, and adds, removes and
 * sets passwords with form POSTs that call the directory directly (the
 * same checks as `postino user` and `postino alias`). A refused change
 * shows the page again with the reason and the typed values (never the
 * password).
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import type { AliasListing, UserListing } from "../../store/directory.ts";
import type { AdminDeps } from "../deps.ts";
import { type Html, notice, sendPage } from "./layout.ts";

const DONE: Record<string, string> = {
  "user-added": "User added.",
  "user-deleted": "User deleted.",
  password: "Password set.",
  "alias-added": "Alias saved.",
  "alias-deleted": "Alias deleted.",
};

/** What the forms held when a change was refused. */
interface Draft {
  error?: string;
  user?: { address: string; name: string };
  alias?: { address: string; members: string; private: boolean };
}

/** Splits a members field: commas, spaces or new lines between addresses. */
export function parseMembers(text: string): string[] {
  return text.split(/[\s,;]+/).map((m) => m.trim()).filter((m) => m !== "");
}

function path(kind: "users" | "aliases", address: string, action: string): string {
  return `/${kind}/${encodeURIComponent(address)}/${action}`;
}

function userRow(u: UserListing): Html {
  const password = u.hasPassword
    ? html`<span class="badge yes">set</span>`
    : html`<span class="badge">receive only</span>`;
  return html`
    <tr data-address="${u.address}">
      <td class="addr"><a href="/mailboxes/${encodeURIComponent(u.address)}">${u.address}</a></td>
      <td>${u.name ?? ""}</td>
      <td>${password}</td>
      <td>
        <form method="post" action="${path("users", u.address, "password")}" class="row-form">
          <input type="password" name="password" autocomplete="new-password" required
            aria-label="New password for ${u.address}">
          <button type="submit">Set</button>
        </form>
      </td>
      <td>
        <form method="post" action="${path("users", u.address, "delete")}" class="inline"
          data-confirm="Delete user ${u.address}? Their mailbox stays on disk.">
          <button type="submit" class="danger">Delete</button>
        </form>
      </td>
    </tr>
  `;
}

function userTable(deps: AdminDeps): Html {
  const users = deps.directory.listUsers();
  if (users.length === 0) return html`<p class="muted">No users yet.</p>`;
  return html`
    <table id="users-table">
      <thead>
        <tr>
          <th>Address</th>
          <th>Name</th>
          <th>Password</th>
          <th>New password</th>
          <th></th>
        </tr>
      </thead>
      <tbody>${users.map(userRow)}</tbody>
    </table>
  `;
}

function aliasRow(deps: AdminDeps, a: AliasListing): Html {
  const entry = deps.directory.getEntry(a.address);
  const expn = entry?.kind === "alias" && entry.private
    ? html`<span class="badge held">private</span>`
    : html`<span class="badge">public</span>`;
  return html`
    <tr data-address="${a.address}">
      <td class="addr">${a.address}</td>
      <td class="addr">${a.members.join(", ")}</td>
      <td>${expn}</td>
      <td>
        <form method="post" action="${path("aliases", a.address, "delete")}" class="inline"
          data-confirm="Delete alias ${a.address}?">
          <button type="submit" class="danger">Delete</button>
        </form>
      </td>
    </tr>
  `;
}

function aliasTable(deps: AdminDeps): Html {
  const aliases = deps.directory.listAliases();
  if (aliases.length === 0) return html`<p class="muted">No aliases yet.</p>`;
  return html`
    <table id="aliases-table">
      <thead>
        <tr>
          <th>Alias</th>
          <th>Members</th>
          <th>EXPN</th>
          <th></th>
        </tr>
      </thead>
      <tbody>${aliases.map((a) => aliasRow(deps, a))}</tbody>
    </table>
  `;
}

function addUserForm(user: { address: string; name: string }): Html {
  return html`
    <form method="post" action="/users" class="stack" id="add-user">
      <label>Address
        <input name="address" type="email" required value="${user.address}"
          placeholder="alice@example.org">
      </label>
      <label>Name <input name="name" value="${user.name}" placeholder="optional"></label>
      <label>Password
        <input name="password" type="password" autocomplete="new-password"
          placeholder="empty: receive only">
      </label>
      <div><button type="submit" class="primary">Add user</button></div>
    </form>
  `;
}

function addAliasForm(alias: { address: string; members: string; private: boolean }): Html {
  const members = alias.members;
  return html`
    <form method="post" action="/aliases" class="stack" id="add-alias">
      <label>Alias
        <input name="address" type="email" required value="${alias.address}"
          placeholder="info@example.org">
      </label>
      <label>Members
        <textarea name="members" rows="2" required placeholder="a@example.org, b@example.net">${members}</textarea>
      </label>
      <label class="check">
        <input type="checkbox" name="private" value="1" ${alias.private ? "checked" : ""}>
        Private: EXPN does not show the members
      </label>
      <div><button type="submit" class="primary">Save alias</button></div>
    </form>
    <p class="hint">Saving an alias that exists adds the members to the ones it has.</p>
  `;
}

function usersPage(c: Context, deps: AdminDeps, draft: Draft = {}, status: 200 | 422 = 200) {
  const done = draft.error ? "" : notice(DONE[c.req.query("done") ?? ""]);
  return sendPage(c, {
    title: "Users",
    active: "/users",
    page: "users",
    version: deps.version,
    body: html`
      <h1>Users and aliases</h1>
      ${notice(draft.error, "error")} ${done}
      <section class="card">
        <h2>Users</h2>
        ${userTable(deps)}
      </section>
      <section class="card">
        <h2>Aliases</h2>
        ${aliasTable(deps)}
      </section>
      <div class="grid2">
        <section class="card">
          <h2>Add a user</h2>
          ${addUserForm(draft.user ?? { address: "", name: "" })}
        </section>
        <section class="card">
          <h2>Add an alias</h2>
          ${addAliasForm(draft.alias ?? { address: "", members: "", private: false })}
        </section>
      </div>
    `,
  }, status);
}

function field(form: Record<string, unknown>, name: string): string {
  const value = form[name];
  return typeof value === "string" ? value.trim() : "";
}

function reason(error: unknown): string {
  // The directory's TypeErrors say what was wrong; anything else stays generic.
  return error instanceof TypeError ? error.message : "The change could not be saved.";
}

/** The users and aliases routes. */
export function userRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get("/users", (c) => usersPage(c, deps));

  app.post("/users", async (c) => {
    const form = await c.req.parseBody();
    const address = field(form, "address");
    const name = field(form, "name");
    const password = typeof form["password"] === "string" ? form["password"] : "";
    try {
      await deps.directory.addUser(address, {
        ...(password === "" ? {} : { password }),
        ...(name === "" ? {} : { name }),
      });
    } catch (error) {
      return usersPage(c, deps, { error: reason(error), user: { address, name } }, 422);
    }
    return c.redirect("/users?done=user-added", 303);
  });

  app.post("/users/:address/password", async (c) => {
    const form = await c.req.parseBody();
    const password = typeof form["password"] === "string" ? form["password"] : "";
    try {
      await deps.directory.setPassword(c.req.param("address"), password);
    } catch (error) {
      return usersPage(c, deps, { error: reason(error) }, 422);
    }
    return c.redirect("/users?done=password", 303);
  });

  app.post("/users/:address/delete", (c) => {
    if (!deps.directory.removeUser(c.req.param("address"))) {
      return usersPage(c, deps, { error: "There is no such user." }, 422);
    }
    return c.redirect("/users?done=user-deleted", 303);
  });

  app.post("/aliases", async (c) => {
    const form = await c.req.parseBody();
    const address = field(form, "address");
    const members = field(form, "members");
    const isPrivate = form["private"] !== undefined;
    try {
      deps.directory.addAlias(address, parseMembers(members), isPrivate ? { private: true } : {});
    } catch (error) {
      return usersPage(
        c,
        deps,
        { error: reason(error), alias: { address, members, private: isPrivate } },
        422,
      );
    }
    return c.redirect("/users?done=alias-added", 303);
  });

  app.post("/aliases/:address/delete", (c) => {
    if (!deps.directory.removeAlias(c.req.param("address"))) {
      return usersPage(c, deps, { error: "There is no such alias." }, 422);
    }
    return c.redirect("/users?done=alias-deleted", 303);
  });
  return app;
}
