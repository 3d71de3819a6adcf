/**
 * Reads what came back to a local sender: the Maildir files, and an RFC 3464
 * report parsed into its MIME parts (RFC 2045/2046) and its per-message and
 * per-recipient field groups, for wire tests of bounces.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The messages in `<dataDir>/mail/<domain>/<user>/new/`, as latin1 text (byte per char). */
export function maildirMessages(dataDir: string, address: string): string[] {
  const at = address.lastIndexOf("@");
  const dir = join(dataDir, "mail", address.slice(at + 1), address.slice(0, at), "new");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().map((name) => readFileSync(join(dir, name), "latin1"));
}

/** A header section and body. */
export interface Entity {
  /** Unfolded fields, names lower-cased, in order. */
  headers: [string, string][];
  /** The header section as it was (CRLF, ending before the empty line). */
  rawHeaders: string;
  body: string;
  /** The first value of the field `name` (any case). */
  get(name: string): string | undefined;
}

/** Splits `text` (CRLF) at its first empty line into headers and body. */
export function parseEntity(text: string): Entity {
  const split = text.startsWith("\r\n") ? 0 : text.indexOf("\r\n\r\n");
  assert.ok(
    split !== -1,
    `no empty line after the headers in ${JSON.stringify(text.slice(0, 200))}`,
  );
  const rawHeaders = text.slice(0, split);
  const body = text.slice(split === 0 ? 2 : split + 4);
  const headers: [string, string][] = [];
  for (const line of rawHeaders.split("\r\n")) {
    if (line === "") continue;
    if (/^[ \t]/.test(line) && headers.length > 0) {
      const last = headers[headers.length - 1] as [string, string];
      last[1] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    assert.ok(colon > 0, `not a header field: ${JSON.stringify(line)}`);
    headers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return {
    headers,
    rawHeaders,
    body,
    get: (name) => headers.find(([n]) => n === name.toLowerCase())?.[1],
  };
}

/** A `Content-Type` value's type/subtype (lower-cased) and parameters (names lower-cased). */
export function contentType(
  value: string | undefined,
): { type: string; params: Record<string, string> } {
  const [type = "text/plain", ...rest] = (value ?? "text/plain").split(";");
  const params: Record<string, string> = {};
  for (const part of rest) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    const raw = part.slice(eq + 1).trim();
    params[part.slice(0, eq).trim().toLowerCase()] = raw.startsWith('"') ? raw.slice(1, -1) : raw;
  }
  return { type: type.trim().toLowerCase(), params };
}

/** The body parts of a multipart entity (RFC 2046 §5.1.1). */
export function multipartParts(entity: Entity): Entity[] {
  const { type, params } = contentType(entity.get("content-type"));
  assert.ok(type.startsWith("multipart/"), `not multipart: ${type}`);
  const boundary = params["boundary"];
  assert.ok(boundary, "multipart without a boundary");
  const delimiter = `\r\n--${boundary}`;
  const body = `\r\n${entity.body}`;
  const close = body.indexOf(`${delimiter}--`);
  assert.ok(close !== -1, "no closing boundary");
  const pieces = body.slice(0, close).split(delimiter).slice(1);
  // Each piece starts with the rest of its delimiter line (transport padding, CRLF).
  return pieces.map((piece) => parseEntity(piece.slice(piece.indexOf("\r\n") + 2)));
}

/** A parsed RFC 3464 report. */
export interface Report {
  message: Entity;
  parts: Entity[];
  /** The human-readable first part. */
  text: Entity;
  /** The message/delivery-status part's field groups: per-message first, then per-recipient. */
  perMessage: Map<string, string>;
  perRecipient: Map<string, string>[];
  /** The third part: text/rfc822-headers or message/rfc822. */
  returned: Entity;
}

function fieldGroups(body: string): Map<string, string>[] {
  return body.split(/\r\n\r\n/).filter((g) => g.trim() !== "").map((group) => {
    const fields = new Map<string, string>();
    let last = "";
    for (const line of group.split("\r\n")) {
      if (line === "") continue;
      if (/^[ \t]/.test(line)) {
        fields.set(last, `${fields.get(last)} ${line.trim()}`);
        continue;
      }
      const colon = line.indexOf(":");
      last = line.slice(0, colon).toLowerCase();
      fields.set(last, line.slice(colon + 1).trim());
    }
    return fields;
  });
}

/** Parses and checks the outer structure of an RFC 3464 report. */
export function parseReport(text: string): Report {
  const message = parseEntity(text);
  const { type, params } = contentType(message.get("content-type"));
  assert.equal(type, "multipart/report");
  assert.equal(params["report-type"]?.toLowerCase(), "delivery-status");
  const parts = multipartParts(message);
  assert.ok(parts.length === 3 || parts.length === 2, `report has ${parts.length} parts`);
  const [textPart, status, returned] = parts as [Entity, Entity, Entity | undefined];
  assert.equal(contentType(status.get("content-type")).type, "message/delivery-status");
  const [perMessage = new Map(), ...perRecipient] = fieldGroups(status.body);
  return {
    message,
    parts,
    text: textPart,
    perMessage,
    perRecipient,
    returned: returned ?? parseEntity("\r\n"),
  };
}
