/**
 * `GET /api/terminal/:address`: a terminal for RFC 821 SEND, SOML and SAML
 * in the browser. While the stream is open, the user has a terminal in the
 * server's hub, exactly like a `postino watch` session, so the `terminal`
 * plugin shows SEND messages on it:
 *
 * ```
 * id: 1
 * event: message
 * data: {"from":"bob@example.org","text":"lunch?","time":1700000000000}
 * ```
 *
 * Only local users have terminals: any other address is 404. Without the
 * `terminal` plugin the route answers 409.
 *
 * @module
 */
import { Hono } from "hono";
import type { Lifecycle } from "./app.ts";
import type { AdminDeps } from "./deps.ts";
import { fail, mailboxAddress, methodNotAllowed } from "./request.ts";
import { type SseOptions, sseResponse } from "./sse.ts";

/** The `/api/terminal` routes; `stream` tunes heartbeats and buffers (tests). */
export function terminalRoutes(
  deps: AdminDeps,
  lifecycle: Lifecycle,
  stream: Partial<SseOptions> = {},
): Hono {
  const app = new Hono();
  app.get("/:address", (c) => {
    const address = mailboxAddress(c.req.param("address"));
    if (deps.directory.getUser(address) === undefined) fail(404, `no such user: ${address}`);
    // Without the plugin SEND is refused (502), so a terminal would wait for nothing.
    if (!deps.config().plugins.some((p) => p.name === "terminal")) {
      fail(409, 'the terminal plugin is off (plugins = ["terminal"])');
    }
    return sseResponse({ ...stream, lifecycle, signal: c.req.raw.signal }, (out) => {
      let id = 0;
      return deps.terminals.open(address, (message) => {
        const data = JSON.stringify({ from: message.from, text: message.text, time: deps.now() });
        // A closed stream throws, so the hub does not count it as shown.
        if (!out.send({ id: ++id, event: "message", data })) throw new Error("terminal closed");
      });
    });
  });
  app.all("/:address", methodNotAllowed("GET"));
  return app;
}
