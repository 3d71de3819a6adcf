/**
 * Request helpers shared by the JSON API's routes: JSON bodies (415 for
 * another media type, 400 for bad JSON, 413 for a huge body), address and
 * paging parameters, and 405 answers. Failures are thrown as
 * `HTTPException`s; the app turns them into `{"error": "…"}` replies.
 *
 * @module
 */
import type { Context, Handler } from "hono";
import { HTTPException } from "hono/http-exception";
import { isValidMailboxAddress, normalizeAddress } from "../store/address.ts";

/** The largest JSON body the API reads. */
export const MAX_JSON_BYTES = 1024 * 1024;

/** Throws the HTTP error `status` with `message` as the JSON `error`. */
export function fail(status: 400 | 404 | 409 | 413 | 415, message: string): never {
  throw new HTTPException(status, { message });
}

function isJsonType(type: string | undefined): boolean {
  const media = (type ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  return media === "application/json" || /^application\/[\w.+-]+\+json$/.test(media);
}

/**
 * The request's JSON object. With `optional`, an empty body is `{}` whatever
 * its type (e.g. `POST /api/queue/flush` with no filter).
 */
export async function readJsonObject(
  c: Context,
  options: { optional?: boolean } = {},
): Promise<Record<string, unknown>> {
  const length = Number(c.req.header("content-length") ?? "0");
  if (length > MAX_JSON_BYTES) fail(413, `the body is larger than ${MAX_JSON_BYTES} bytes`);
  const text = await c.req.text();
  if (text.length > MAX_JSON_BYTES) fail(413, `the body is larger than ${MAX_JSON_BYTES} bytes`);
  if (options.optional && text.trim() === "") return {};
  if (!isJsonType(c.req.header("content-type"))) {
    fail(415, "send a JSON body with Content-Type: application/json");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail(400, "the body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(400, "the body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Refuses fields other than `allowed` (a typo must not be ignored silently). */
export function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    fail(400, `unknown field(s): ${unknown.join(", ")}; expected ${allowed.join(", ")}`);
  }
}

/** A string field, or undefined when absent; 400 when it has another type. */
export function stringField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string") fail(400, `"${name}" must be a string`);
  return value;
}

/** A boolean field, or undefined when absent. */
export function booleanField(body: Record<string, unknown>, name: string): boolean | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") fail(400, `"${name}" must be true or false`);
  return value;
}

/** An array-of-strings field, or undefined when absent. */
export function stringsField(body: Record<string, unknown>, name: string): string[] | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    fail(400, `"${name}" must be an array of strings`);
  }
  return value as string[];
}

/**
 * A mailbox address as the directory keys it (trimmed, lower-cased, NFC);
 * 400 unless it is a valid `local@domain`, as the CLI requires.
 */
export function mailboxAddress(text: string, what = "address"): string {
  const address = normalizeAddress(text);
  if (!isValidMailboxAddress(address)) fail(400, `invalid ${what}: ${JSON.stringify(text)}`);
  return address;
}

/** A non-negative integer query parameter, or `fallback`; 400 when malformed. */
export function intQuery(c: Context, name: string, fallback: number, max = Infinity): number {
  const text = c.req.query(name);
  if (text === undefined || text === "") return fallback;
  if (!/^\d{1,9}$/.test(text)) fail(400, `"${name}" must be a non-negative integer`);
  return Math.min(Number(text), max);
}

/** `?limit=` (default 100, at most 1000) and `?offset=` (default 0). */
export function pageQuery(c: Context): { limit: number; offset: number } {
  return { limit: intQuery(c, "limit", 100, 1000), offset: intQuery(c, "offset", 0) };
}

/** Answers 405 with an `Allow` header, for a known path and another method. */
export function methodNotAllowed(...allow: string[]): Handler {
  return (c) => {
    c.header("Allow", allow.join(", "));
    return c.json({ error: `method ${c.req.method} not allowed; use ${allow.join(" or ")}` }, 405);
  };
}
