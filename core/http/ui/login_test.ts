import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import type { AdminDeps } from "../deps.ts";
import { loginRoutes, safeNext } from "./login.ts";
import { LoginLimiter } from "./login_limiter.ts";
import { ORIGIN, TEST_TOKEN, testApp } from "./test_deps.ts";

test("safeNext() keeps paths on this server and refuses everything else", () => {
  const cases: [unknown, string][] = [
    ["/queue", "/queue"],
    ["/queue?state=held&domain=a.example", "/queue?state=held&domain=a.example"],
    ["/mailboxes/a%40b.example", "/mailboxes/a%40b.example"],
    ["/users#add", "/users#add"],
    ["//evil.example/x", "/"],
    ["/\\evil.example", "/"],
    ["/\\/evil.example", "/"],
    ["https://evil.example/", "/"],
    ["javascript:alert(1)", "/"],
    ["/x\r\nSet-Cookie: a=b", "/"],
    ["/\t/evil.example", "/"],
    ["queue", "/"],
    ["", "/"],
    [undefined, "/"],
    [["/queue"], "/"],
    ["/login", "/"],
    ["/logout?x", "/"],
    ["/./../queue", "/queue"],
  ];
  for (const [next, expected] of cases) {
    assert.equal(safeNext(next), expected, JSON.stringify(next));
  }
});

function form(fields: Record<string, string>, origin = ORIGIN): RequestInit {
  return {
    method: "POST",
    headers: { origin, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  };
}

test("GET /login shows the form with the safe next path, under the CSP", async () => {
  const t = await testApp();
  try {
    const response = await t.app.fetch(
      new Request(`${ORIGIN}/login?next=${encodeURIComponent('/queue?x="><script>')}`),
    );
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    const body = await response.text();
    assert.match(body, /<input id="token" name="token" type="password"/);
    assert.match(body, /name="next" value="\/queue\?x=%22%3E%3Cscript%3E"/);
    assert.doesNotMatch(body, /<script>/);
  } finally {
    t.close();
  }
});

test("POST /login with the token sets an HttpOnly SameSite=Strict cookie and goes to next", async () => {
  const t = await testApp();
  try {
    const response = await t.app.fetch(
      new Request(
        `${ORIGIN}/login`,
        form({ token: ` ${TEST_TOKEN}\n`, next: "/queue?state=held" }),
      ),
    );
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), "/queue?state=held");
    const cookie = response.headers.get("set-cookie") ?? "";
    assert.match(cookie, /^postino_session=[\w-]+;/);
    assert.ok(!cookie.includes(TEST_TOKEN), "the cookie is not the token");
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Path=\//);
    // The cookie opens the pages.
    const page = await t.app.fetch(
      new Request(`${ORIGIN}/queue`, { headers: { cookie: cookie.split(";")[0] as string } }),
    );
    assert.equal(page.status, 200);
  } finally {
    t.close();
  }
});

test("POST /login never redirects off the server", async () => {
  const t = await testApp();
  try {
    const response = await t.app.fetch(
      new Request(`${ORIGIN}/login`, form({ token: TEST_TOKEN, next: "//evil.example/" })),
    );
    assert.equal(response.headers.get("location"), "/");
  } finally {
    t.close();
  }
});

test("POST /login with a wrong token shows the form again with 401 and sets no cookie", async () => {
  const t = await testApp();
  try {
    const response = await t.app.fetch(
      new Request(`${ORIGIN}/login`, form({ token: "wrong", next: "/users" })),
    );
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("set-cookie"), null);
    const body = await response.text();
    assert.match(body, /That is not the admin token/);
    assert.match(body, /name="next" value="\/users"/);
  } finally {
    t.close();
  }
});

/** The login routes alone, with a quick limiter; `remoteAddress` as the runtime seam would pass it. */
function loginApp(remoteAddress?: string) {
  const deps = { token: TEST_TOKEN } as AdminDeps;
  const limiter = new LoginLimiter({ maxFailures: 2, delayMs: 0 });
  const app = new Hono().route("/", loginRoutes(deps, limiter));
  const env = remoteAddress === undefined ? undefined : { remoteAddress };
  return (token: string) => app.fetch(new Request(`${ORIGIN}/login`, form({ token })), env);
}

test("POST /login refuses a client with too many failures with 429, even with the token", async () => {
  const post = loginApp("192.0.2.7");
  assert.equal((await post("a")).status, 401);
  assert.equal((await post("b")).status, 401);
  const refused = await post(TEST_TOKEN);
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get("retry-after")) > 0);
  assert.match(await refused.text(), /Too many failed logins/);
});

test("POST /login without the client's address slows failures but locks nobody out", async () => {
  const post = loginApp();
  for (const token of ["a", "b", "c"]) assert.equal((await post(token)).status, 401);
  assert.equal((await post(TEST_TOKEN)).status, 303);
});

test("POST /logout clears the cookie, but not for another site", async () => {
  const t = await testApp();
  try {
    const out = await t.app.fetch(new Request(`${ORIGIN}/logout`, form({})));
    assert.equal(out.status, 303);
    assert.equal(out.headers.get("location"), "/login");
    assert.match(out.headers.get("set-cookie") ?? "", /postino_session=;.*Max-Age=0/);
    const cross = await t.app.fetch(
      new Request(`${ORIGIN}/logout`, form({}, "https://evil.example")),
    );
    assert.equal(cross.status, 403);
    assert.equal(cross.headers.get("set-cookie"), null);
  } finally {
    t.close();
  }
});

test("a page without a session redirects to /login with the page as next", async () => {
  const t = await testApp();
  try {
    const response = await t.app.fetch(new Request(`${ORIGIN}/queue?state=held`));
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), "/login?next=%2Fqueue");
  } finally {
    t.close();
  }
});
