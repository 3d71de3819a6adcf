/**
 * The admin token: a random secret in `<data-dir>/admin-token` (mode 0600,
 * like a TLS key), created by `postino admin token` or at first start. The
 * API takes it as `Authorization: Bearer <token>`; the web UI's login form
 * turns it into an HttpOnly, SameSite=Strict cookie.
 *
 * @module
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The token file's name inside the data dir. */
export const TOKEN_FILE = "admin-token";

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,128}$/;

/**
 * Reads the token in `dataDir`, creating it first when there is none.
 *
 * @throws {TypeError} When the file exists but does not hold a token.
 */
export function ensureAdminToken(dataDir: string): { token: string; created: boolean } {
  const path = join(dataDir, TOKEN_FILE);
  if (existsSync(path)) {
    const token = readFileSync(path, "utf8").trim();
    if (!TOKEN_SHAPE.test(token)) throw new TypeError(`${path} does not hold an admin token`);
    return { token, created: false };
  }
  const token = randomBytes(32).toString("base64url");
  // "wx": never overwrite a token another process wrote meanwhile.
  writeFileSync(path, token + "\n", { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return { token, created: true };
}

/** Compares a presented token with the real one in constant time. */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false;
  const a = new TextEncoder().encode(presented);
  const b = new TextEncoder().encode(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
