/**
 * `/api/aliases`: aliases and lists, as `postino alias` manages them.
 * Members may be remote; a private alias is one EXPN refuses to show.
 *
 * | Route | Does |
 * |---|---|
 * | `GET /api/aliases` | every alias with its members and private flag |
 * | `POST /api/aliases` | `{"address", "members", "private"?}` → 201; 409 if the address is taken |
 * | `GET /api/aliases/:address` | one alias |
 * | `PUT /api/aliases/:address` | `{"members", "private"?}`: set exactly these members (201 if new) |
 * | `DELETE /api/aliases/:address` | remove the alias |
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { Directory } from "../store/directory.ts";
import type { AdminDeps } from "./deps.ts";
import {
  booleanField,
  fail,
  mailboxAddress,
  methodNotAllowed,
  onlyFields,
  readJsonObject,
  stringField,
  stringsField,
} from "./request.ts";

/** An alias as the API shows it. */
export interface AliasJson {
  address: string;
  members: string[];
  private: boolean;
}

function aliasJson(directory: Directory, address: string): AliasJson | undefined {
  const members = directory.getAlias(address);
  const entry = directory.getEntry(address);
  if (members === undefined || entry?.kind !== "alias") return undefined;
  return { address, members, private: entry.private };
}

function members(body: Record<string, unknown>): string[] {
  const list = stringsField(body, "members");
  if (list === undefined || list.length === 0) fail(400, '"members" needs at least one address');
  return list.map((member) => mailboxAddress(member, "member"));
}

/** Sets the alias, turning the directory's refusals into 400/409. */
function store(directory: Directory, address: string, list: string[], flag?: boolean): boolean {
  if (directory.getUser(address) !== undefined) {
    fail(409, `${address} is a user, so it cannot also be an alias`);
  }
  try {
    return directory.setAlias(address, list, flag === undefined ? {} : { private: flag });
  } catch (error) {
    if (error instanceof TypeError) {
      fail(/is a user/.test(error.message) ? 409 : 400, error.message);
    }
    throw error;
  }
}

function addressParam(c: Context): string {
  return mailboxAddress(c.req.param("address") ?? "");
}

/** The `/api/aliases` routes. */
export function aliasRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  const directory = deps.directory;

  app.get("/", (c) => {
    const aliases = directory.listAliases().map((a): AliasJson => {
      const entry = directory.getEntry(a.address);
      return { ...a, private: entry?.kind === "alias" && entry.private };
    });
    return c.json({ aliases });
  });

  app.post("/", async (c) => {
    const body = await readJsonObject(c);
    onlyFields(body, ["address", "members", "private"]);
    const given = stringField(body, "address");
    if (given === undefined) fail(400, '"address" is required');
    const address = mailboxAddress(given);
    const list = members(body);
    const flag = booleanField(body, "private");
    if (directory.getAlias(address) !== undefined) fail(409, `alias ${address} exists`);
    store(directory, address, list, flag);
    c.header("Location", `/api/aliases/${encodeURIComponent(address)}`);
    return c.json(aliasJson(directory, address), 201);
  });
  app.all("/", methodNotAllowed("GET", "POST"));

  app.get("/:address", (c) => {
    const address = addressParam(c);
    const alias = aliasJson(directory, address);
    if (alias === undefined) fail(404, `no such alias: ${address}`);
    return c.json(alias);
  });

  app.put("/:address", async (c) => {
    const address = addressParam(c);
    const body = await readJsonObject(c);
    onlyFields(body, ["members", "private"]);
    const created = store(directory, address, members(body), booleanField(body, "private"));
    return c.json(aliasJson(directory, address), created ? 201 : 200);
  });

  app.delete("/:address", (c) => {
    const address = addressParam(c);
    if (!directory.removeAlias(address)) fail(404, `no such alias: ${address}`);
    return c.json({ deleted: address });
  });
  app.all("/:address", methodNotAllowed("GET", "PUT", "DELETE"));

  return app;
}
