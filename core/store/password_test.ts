import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { hashPassword, verifyPassword } from "./password.ts";

test("hashPassword() encodes scrypt parameters, salt and hash", async () => {
  const stored = await hashPassword("correct horse");
  const parts = stored.split("$");
  assert.equal(parts.length, 6);
  assert.deepEqual(parts.slice(0, 4), ["scrypt", "16384", "8", "1"]);
  assert.equal(Buffer.from(parts[4] ?? "", "base64").length, 16);
  assert.equal(Buffer.from(parts[5] ?? "", "base64").length, 32);
  assert.ok(!stored.includes("correct horse"));
});

test("hashPassword() salts each hash differently", async () => {
  const [a, b] = await Promise.all([hashPassword("same"), hashPassword("same")]);
  assert.notEqual(a, b);
});

test("verifyPassword() accepts the right password and rejects others", async () => {
  const stored = await hashPassword("s3cret ü");
  assert.equal(await verifyPassword("s3cret ü", stored), true);
  assert.equal(await verifyPassword("s3cret u", stored), false);
  assert.equal(await verifyPassword("", stored), false);
  assert.equal(await verifyPassword("s3cret ü ", stored), false);
});

test("verifyPassword() accepts the empty string only when it was hashed", async () => {
  assert.equal(await verifyPassword("", await hashPassword("")), true);
});

test("verifyPassword() returns false for malformed stored values", async () => {
  const good = await hashPassword("pw");
  const [, , , , salt = "", key = ""] = good.split("$");
  const cases = [
    "",
    "pw",
    "scrypt",
    good.replace("scrypt$", "bcrypt$"),
    `scrypt$16384$8$1$${salt}`,
    `scrypt$16384$8$1$${salt}$${key}$extra`,
    `scrypt$16383$8$1$${salt}$${key}`,
    `scrypt$0$8$1$${salt}$${key}`,
    `scrypt$-16384$8$1$${salt}$${key}`,
    `scrypt$1e4$8$1$${salt}$${key}`,
    `scrypt$1073741824$8$1$${salt}$${key}`,
    `scrypt$16384$999$1$${salt}$${key}`,
    `scrypt$16384$8$1$***$${key}`,
    `scrypt$16384$8$1$${salt}$`,
    `scrypt$16384$8$1$${salt}$AAAA`,
    `scrypt$16384$8$1$${salt}$${key.slice(1)}`,
  ];
  for (const stored of cases) {
    assert.equal(await verifyPassword("pw", stored), false, stored);
  }
});

test("verifyPassword() honours parameters stored in the hash", async () => {
  const { scryptSync } = await import("node:crypto");
  const salt = Buffer.from("0123456789abcdef");
  const key = scryptSync("pw", salt, 32, { N: 1024, r: 8, p: 1 });
  const stored = `scrypt$1024$8$1$${salt.toString("base64")}$${key.toString("base64")}`;
  assert.equal(await verifyPassword("pw", stored), true);
  assert.equal(await verifyPassword("pw2", stored), false);
});
