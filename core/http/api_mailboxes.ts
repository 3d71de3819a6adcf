/**
 * `/api/mailboxes`: the local Maildirs, read-only (see
 * `core/store/maildir_reader.ts`, which keeps every path inside its mailbox).
 *
 * | Route | Does |
 * |---|---|
 * | `GET /api/mailboxes` | every mailbox and its message count |
 * | `GET /api/mailboxes/:address/messages` | newest first, `?limit=&offset=`, with header fields |
 * | `GET /api/mailboxes/:address/messages/:id` | the source (`message/rfc822`); `?download=1` as a file |
 *
 * @module
 */
import { Hono } from "hono";
import {
  countMessages,
  isMailboxAddress,
  isMessageId,
  listMailboxes,
  listMessages,
  mailboxExists,
  readMessage,
} from "../store/maildir_reader.ts";
import type { AdminDeps } from "./deps.ts";
import { fail, methodNotAllowed, pageQuery } from "./request.ts";

/** The mailbox address from the path: any `local@domain` a Maildir may have. */
function mailbox(text: string): string {
  // Not the directory's stricter check: a mailbox may hold mail for an
  // address that is no longer (or never was) a user, e.g. postmaster.
  const address = text.trim().toLowerCase();
  if (!isMailboxAddress(address)) fail(400, `invalid address: ${JSON.stringify(text)}`);
  return address;
}

/** The `/api/mailboxes` routes. */
export function mailboxRoutes(deps: AdminDeps): Hono {
  const app = new Hono();

  app.get("/", async (c) => c.json({ mailboxes: await listMailboxes(deps.mailRoot) }));
  app.all("/", methodNotAllowed("GET"));

  app.get("/:address/messages", async (c) => {
    const address = mailbox(c.req.param("address"));
    const page = pageQuery(c);
    if (
      !await mailboxExists(deps.mailRoot, address) && deps.directory.getUser(address) === undefined
    ) {
      fail(404, `no such mailbox: ${address}`);
    }
    return c.json({
      address,
      total: await countMessages(deps.mailRoot, address),
      messages: await listMessages(deps.mailRoot, address, page),
    });
  });
  app.all("/:address/messages", methodNotAllowed("GET"));

  app.get("/:address/messages/:id", async (c) => {
    const address = mailbox(c.req.param("address"));
    const id = c.req.param("id");
    if (!isMessageId(id)) fail(400, `invalid message id: ${JSON.stringify(id)}`);
    const bytes = await readMessage(deps.mailRoot, address, id);
    if (bytes === undefined) fail(404, `no such message in ${address}: ${id}`);
    const headers: Record<string, string> = { "Content-Type": "message/rfc822" };
    const download = c.req.query("download");
    if (download !== undefined && download !== "0" && download !== "false") {
      // The id is a Maildir name: letters, digits and . _ : , = + - only.
      headers["Content-Disposition"] = `attachment; filename="${id.replace(/:/g, "_")}.eml"`;
    }
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, headers);
  });
  app.all("/:address/messages/:id", methodNotAllowed("GET"));

  return app;
}
