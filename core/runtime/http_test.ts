import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { serveHttp } from "./http.ts";

test("serveHttp serves a fetch handler and passes the client's address", async () => {
  const server = await serveHttp(
    { hostname: "127.0.0.1", port: 0 },
    (request, info) =>
      Response.json({ path: new URL(request.url).pathname, from: info.remoteAddress }),
  );
  try {
    assert.ok(server.port > 0);
    const response = await fetch(`http://127.0.0.1:${server.port}/x/y`);
    assert.deepEqual(await response.json(), { path: "/x/y", from: "127.0.0.1" });
  } finally {
    await server.close();
  }
});

test("a handler that throws gives a JSON 500, and the server keeps serving", async () => {
  let calls = 0;
  const server = await serveHttp({ hostname: "127.0.0.1", port: 0 }, () => {
    calls++;
    if (calls === 1) throw new Error("boom");
    return new Response("fine");
  });
  try {
    const first = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(first.status, 500);
    assert.deepEqual(await first.json(), { error: "internal error" });
    const second = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(await second.text(), "fine");
  } finally {
    await server.close();
  }
});

test("a busy address is a rejection, not a synchronous throw", async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const result = serveHttp({ hostname: "127.0.0.1", port }, () => new Response("x"));
    await assert.rejects(result);
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});
