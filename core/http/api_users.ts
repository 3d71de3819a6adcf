/**
 * `/api/users`: local users, as `postino user` manages them. Passwords go in
 * as JSON and are stored only as a hash by the directory; no reply ever
 * contains one (only `hasPassword`).
 *
 * | Route | Does |
 * |---|---|
 * | `GET /api/users` | every user with name, `hasPassword` and ATRN grants |
 * | `POST /api/users` | `{"address", "password"?, "name"?}` → 201; 409 if the address is taken |
 * | `GET /api/users/:address` | one user |
 * | `PATCH /api/users/:address` | `{"password"?, "name"? (null clears), "grants"? (replaces)}` |
 * | `DELETE /api/users/:address` | remove the user and their grants |
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { isValidDomain } from "../smtp/address.ts";
import type { Directory } from "../store/directory.ts";
import type { AdminDeps } from "./deps.ts";
import {
  fail,
  mailboxAddress,
  methodNotAllowed,
  onlyFields,
  readJsonObject,
  stringField,
  stringsField,
} from "./request.ts";

/** A user as the API shows it. */
export interface UserJson {
  address: string;
  name: string | null;
  hasPassword: boolean;
  /** Domains the user may collect with ATRN (RFC 2645), besides their own. */
  grants: string[];
}

function userJson(directory: Directory, address: string): UserJson | undefined {
  const user = directory.listUsers().find((u) => u.address === address);
  if (user === undefined) return undefined;
  return {
    address: user.address,
    name: user.name ?? null,
    hasPassword: user.hasPassword,
    grants: directory.grantedDomains(user.address),
  };
}

// A name shows up in VRFY replies and the web UI: one line of text only.
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

function password(body: Record<string, unknown>): string | undefined {
  const value = stringField(body, "password");
  if (value === "") fail(400, "the password must not be empty");
  return value;
}

/** `name`: a string, or null to clear it (PATCH). */
function nameField(body: Record<string, unknown>): string | null | undefined {
  if (body["name"] === null) return null;
  const name = stringField(body, "name")?.trim();
  if (name !== undefined && CONTROL.test(name)) {
    fail(400, '"name" must not contain control characters');
  }
  return name === "" ? null : name;
}

function grantDomains(body: Record<string, unknown>): string[] | undefined {
  const grants = stringsField(body, "grants");
  return grants?.map((text) => {
    const domain = text.trim().toLowerCase().replace(/\.$/, "");
    if (!isValidDomain(domain) || domain.startsWith("[")) {
      fail(400, `invalid domain in "grants": ${JSON.stringify(text)}`);
    }
    return domain;
  });
}

function addressParam(c: Context): string {
  return mailboxAddress(c.req.param("address") ?? "");
}

/** The `/api/users` routes. */
export function userRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  const directory = deps.directory;

  app.get("/", (c) => {
    const grants = new Map<string, string[]>();
    for (const g of directory.listGrants()) {
      grants.set(g.address, [...(grants.get(g.address) ?? []), g.domain]);
    }
    return c.json({
      users: directory.listUsers().map((u): UserJson => ({
        address: u.address,
        name: u.name ?? null,
        hasPassword: u.hasPassword,
        grants: grants.get(u.address) ?? [],
      })),
    });
  });

  app.post("/", async (c) => {
    const body = await readJsonObject(c);
    onlyFields(body, ["address", "password", "name"]);
    const given = stringField(body, "address");
    if (given === undefined) fail(400, '"address" is required');
    const address = mailboxAddress(given);
    const secret = password(body);
    const name = nameField(body);
    const existing = directory.getEntry(address);
    if (existing !== undefined) {
      fail(409, existing.kind === "user" ? `user ${address} exists` : `${address} is an alias`);
    }
    try {
      await directory.addUser(address, {
        ...(secret === undefined ? {} : { password: secret }),
        ...(typeof name === "string" ? { name } : {}),
      });
    } catch (error) {
      // Another writer (the CLI) may have taken the address meanwhile.
      if (error instanceof TypeError) fail(409, error.message);
      throw error;
    }
    c.header("Location", `/api/users/${encodeURIComponent(address)}`);
    return c.json(userJson(directory, address), 201);
  });
  app.all("/", methodNotAllowed("GET", "POST"));

  app.get("/:address", (c) => {
    const address = addressParam(c);
    const user = userJson(directory, address);
    if (user === undefined) fail(404, `no such user: ${address}`);
    return c.json(user);
  });

  app.patch("/:address", async (c) => {
    const address = addressParam(c);
    const body = await readJsonObject(c);
    onlyFields(body, ["password", "name", "grants"]);
    const secret = password(body);
    const name = nameField(body);
    const grants = grantDomains(body);
    if (directory.getUser(address) === undefined) fail(404, `no such user: ${address}`);
    if (name !== undefined) directory.setName(address, name ?? undefined);
    if (grants !== undefined) {
      const before = directory.grantedDomains(address);
      for (const domain of before) if (!grants.includes(domain)) directory.revoke(address, domain);
      for (const domain of grants) if (!before.includes(domain)) directory.grant(address, domain);
    }
    if (secret !== undefined) await directory.setPassword(address, secret);
    return c.json(userJson(directory, address));
  });

  app.delete("/:address", (c) => {
    const address = addressParam(c);
    if (!directory.removeUser(address)) fail(404, `no such user: ${address}`);
    return c.json({ deleted: address });
  });
  app.all("/:address", methodNotAllowed("GET", "PATCH", "DELETE"));

  return app;
}
