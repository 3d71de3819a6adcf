import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import {
  intQuery,
  mailboxAddress,
  methodNotAllowed,
  onlyFields,
  readJsonObject,
} from "./request.ts";

function app(): Hono {
  const hono = new Hono();
  hono.post("/strict", async (c) => {
    const body = await readJsonObject(c);
    onlyFields(body, ["a"]);
    return c.json(body);
  });
  hono.post("/optional", async (c) => c.json(await readJsonObject(c, { optional: true })));
  hono.get("/page", (c) => c.json({ limit: intQuery(c, "limit", 100, 1000) }));
  hono.get("/address/:a", (c) => c.json({ address: mailboxAddress(c.req.param("a")) }));
  hono.all("/only-get", methodNotAllowed("GET"));
  hono.onError((error, c) =>
    error instanceof HTTPException
      ? c.json({ error: error.message }, error.status)
      : c.json({ error: "internal" }, 500)
  );
  return hono;
}

const cases: [string, RequestInit, number, unknown][] = [
  ["a JSON object", { body: '{"a":1}', headers: { "content-type": "application/json" } }, 200, {
    a: 1,
  }],
  [
    "a +json media type",
    {
      body: '{"a":2}',
      headers: { "content-type": "application/merge-patch+json; charset=utf-8" },
    },
    200,
    { a: 2 },
  ],
  ["another media type", { body: '{"a":1}', headers: { "content-type": "text/plain" } }, 415, {
    error: "send a JSON body with Content-Type: application/json",
  }],
  ["no body", {}, 415, { error: "send a JSON body with Content-Type: application/json" }],
  ["bad JSON", { body: "{", headers: { "content-type": "application/json" } }, 400, {
    error: "the body is not valid JSON",
  }],
  ["an array", { body: "[]", headers: { "content-type": "application/json" } }, 400, {
    error: "the body must be a JSON object",
  }],
  ["an unknown field", { body: '{"b":1}', headers: { "content-type": "application/json" } }, 400, {
    error: "unknown field(s): b; expected a",
  }],
  [
    "a huge body",
    {
      body: `{"a":"${"x".repeat(1024 * 1024)}"}`,
      headers: { "content-type": "application/json" },
    },
    413,
    { error: "the body is larger than 1048576 bytes" },
  ],
];

for (const [name, init, status, body] of cases) {
  test(`readJsonObject() answers ${status} for ${name}`, async () => {
    const response = await app().request("/strict", { method: "POST", ...init });
    assert.equal(response.status, status);
    assert.deepEqual(await response.json(), body);
  });
}

test("readJsonObject({ optional }) takes an empty body of any type as {}", async () => {
  const response = await app().request("/optional", { method: "POST" });
  assert.deepEqual(await response.json(), {});
});

test("intQuery() caps, defaults and refuses what is not a number", async () => {
  assert.deepEqual(await (await app().request("/page")).json(), { limit: 100 });
  assert.deepEqual(await (await app().request("/page?limit=5000")).json(), { limit: 1000 });
  for (const bad of ["-1", "1.5", "x", "1e3"]) {
    assert.equal((await app().request(`/page?limit=${bad}`)).status, 400, bad);
  }
});

test("mailboxAddress() normalizes like the directory and refuses the rest", async () => {
  const ok = await app().request("/address/%20Alice@Example.ORG%20");
  assert.deepEqual(await ok.json(), { address: "alice@example.org" });
  for (const bad of ["noat", "a..b@x.org", "a@", "..%2F..%40x", "a%00@x.org"]) {
    assert.equal((await app().request(`/address/${bad}`)).status, 400, bad);
  }
});

test("methodNotAllowed() answers 405 with Allow", async () => {
  const response = await app().request("/only-get", { method: "POST" });
  assert.equal(response.status, 405);
  assert.equal(response.headers.get("allow"), "GET");
});
