import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureAdminToken, TOKEN_FILE, tokenMatches } from "./token.ts";
import { isOpenPath, sessionValue } from "./access.ts";

test("ensureAdminToken creates a 0600 token once and then reads it back", () => {
  const dir = mkdtempSync(join(tmpdir(), "postino-token-"));
  try {
    const first = ensureAdminToken(dir);
    assert.equal(first.created, true);
    assert.match(first.token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(statSync(join(dir, TOKEN_FILE)).mode & 0o777, 0o600);
    const second = ensureAdminToken(dir);
    assert.deepEqual(second, { token: first.token, created: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a token file with something else in it is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "postino-token-"));
  try {
    writeFileSync(join(dir, TOKEN_FILE), "short\n");
    assert.throws(() => ensureAdminToken(dir), /does not hold an admin token/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tokenMatches needs the exact token", () => {
  assert.equal(tokenMatches("abc", "abc"), true);
  assert.equal(tokenMatches("abd", "abc"), false);
  assert.equal(tokenMatches("ab", "abc"), false);
  assert.equal(tokenMatches(undefined, "abc"), false);
});

test("the session cookie is derived from the token, not the token itself", () => {
  const value = sessionValue("secret-token");
  assert.notEqual(value, "secret-token");
  assert.equal(value, sessionValue("secret-token"));
  assert.notEqual(value, sessionValue("other-token"));
});

test("only health, metrics, login and assets are open", () => {
  for (const path of ["/api/health", "/metrics", "/login", "/logout", "/assets/app.js"]) {
    assert.equal(isOpenPath(path), true, path);
  }
  for (const path of ["/", "/api/queue", "/api/events", "/queue", "/api/health/x", "/assets"]) {
    assert.equal(isOpenPath(path), false, path);
  }
});
