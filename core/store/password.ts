/**
 * Password hashing for stored users: scrypt from `node:crypto`, encoded as
 * `scrypt$N$r$p$<salt base64>$<hash base64>` so the cost can be raised later
 * without breaking hashes already on disk.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from "node:crypto";

const SCHEME = "scrypt";
const COST = 16384;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
// Bounds for parameters read back from storage: a tampered row must not make
// us allocate gigabytes or spin for minutes (scrypt memory is 128·N·r bytes).
const MAX_COST = 1 << 20;
const MAX_BLOCK_SIZE = 32;
const MAX_PARALLELISM = 16;
const MAX_MEMORY = 256 * 1024 * 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function derive(plain: string, salt: Uint8Array, keyLength: number, options: ScryptOptions) {
  return new Promise<Uint8Array>((resolve, reject) => {
    // NFC as in RFC 8265's OpaqueString, so the same password typed on
    // different keyboards hashes the same.
    scrypt(plain.normalize("NFC"), salt, keyLength, options, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

/** Decodes strict base64, or returns undefined when `text` is not base64. */
function fromBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, "base64");
}

function parseParam(text: string, max: number): number | undefined {
  if (!/^[1-9][0-9]{0,7}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= max ? value : undefined;
}

/**
 * Hashes a password with scrypt (N=16384, r=8, p=1) and a random 16-byte salt.
 *
 * @param plain The password as typed.
 * @returns The encoded hash, `scrypt$16384$8$1$<salt>$<hash>` (base64 parts).
 *
 * @example
 * ```ts
 * const stored = await hashPassword("hunter2");
 * await verifyPassword("hunter2", stored); // true
 * ```
 */
export async function hashPassword(plain: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(plain, salt, KEY_BYTES, {
    N: COST,
    r: BLOCK_SIZE,
    p: PARALLELISM,
  });
  return [SCHEME, COST, BLOCK_SIZE, PARALLELISM, toBase64(salt), toBase64(key)].join("$");
}

/**
 * Checks a password against a hash made by {@linkcode hashPassword}, comparing
 * in constant time.
 *
 * @param plain The password to check.
 * @param stored The encoded hash.
 * @returns `true` when they match; `false` when they do not or when `stored`
 * is malformed.
 */
export async function verifyPassword(plain: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== SCHEME) return false;
  const [, costText = "", blockText = "", parallelText = "", saltText = "", keyText = ""] = parts;
  const N = parseParam(costText, MAX_COST);
  const r = parseParam(blockText, MAX_BLOCK_SIZE);
  const p = parseParam(parallelText, MAX_PARALLELISM);
  const salt = fromBase64(saltText);
  const expected = fromBase64(keyText);
  if (N === undefined || r === undefined || p === undefined) return false;
  if (salt === undefined || expected === undefined) return false;
  // scrypt requires N to be a power of two greater than 1.
  if (N < 2 || (N & (N - 1)) !== 0) return false;
  if (expected.length < 16 || expected.length > 64) return false;
  const memory = 128 * N * r + 1024 * 1024;
  if (memory > MAX_MEMORY) return false;
  let actual: Uint8Array;
  try {
    actual = await derive(plain, salt, expected.length, { N, r, p, maxmem: memory * 2 });
  } catch {
    return false;
  }
  return timingSafeEqual(actual, expected);
}
