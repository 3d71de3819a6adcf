/**
 * Reads the header block of a stored message for display (RFC 5322 §2.2):
 * fields unfolded, encoded-words decoded. Only the header block is looked
 * at; it ends at the first empty line.
 *
 * @example
 * ```ts
 * const fields = headerFields(new TextEncoder().encode("Subject: hi\r\n\r\nbody"));
 * // [{ name: "Subject", value: "hi" }]
 * ```
 *
 * @module
 */
import { decodeEncodedWords } from "./encoded_words.ts";

/** One header field as shown: its name as written and its decoded value. */
export interface HeaderField {
  name: string;
  value: string;
}

const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/** Every header field of `bytes`, in order, repeats included. */
export function headerFields(bytes: Uint8Array): HeaderField[] {
  const text = new TextDecoder().decode(bytes);
  const end = text.search(/\r?\n\r?\n/);
  const block = end === -1 ? text : text.slice(0, end);
  const fields: HeaderField[] = [];
  // RFC 5322 §2.2.3: a line that starts with white space continues the field.
  for (const line of block.split(/\r?\n(?![ \t])/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trimEnd();
    if (!FIELD_NAME.test(name)) continue;
    const value = line.slice(colon + 1).replace(/\r?\n/g, "").trim();
    fields.push({ name, value: decodeEncodedWords(value) });
  }
  return fields;
}

/** The first value of each field, by lower-cased name. */
export function firstFields(bytes: Uint8Array): Map<string, string> {
  const map = new Map<string, string>();
  for (const { name, value } of headerFields(bytes)) {
    const key = name.toLowerCase();
    if (!map.has(key)) map.set(key, value);
  }
  return map;
}
