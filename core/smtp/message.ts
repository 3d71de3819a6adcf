/**
 * A received message: an editable header section over the raw body bytes.
 * Headers that no plugin touches go back out byte for byte.
 *
 * @module
 */

/** One header field: its name and its full raw line(s), CRLF included. */
interface Field {
  name: string;
  raw: Uint8Array;
}

const CRLF_CRLF = [13, 10, 13, 10];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.byteLength;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

function findHeaderEnd(bytes: Uint8Array): number {
  if (bytes[0] === 13 && bytes[1] === 10) return 0; // no header fields at all
  for (let at = bytes.indexOf(13); at !== -1; at = bytes.indexOf(13, at + 1)) {
    if (CRLF_CRLF.every((b, i) => bytes[at + i] === b)) return at + 2;
  }
  // RFC 5322 §3.5: the blank line and body are optional, so a message may be
  // header fields only.
  const n = bytes.byteLength;
  return n >= 2 && bytes[n - 2] === 13 && bytes[n - 1] === 10 ? n : -1;
}

function formatField(name: string, value: string): Uint8Array {
  if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw new TypeError(`invalid header name "${name}"`);
  // Header values may not smuggle extra lines; fold only on our own terms,
  // and only with CRLF (RFC 5322 §2.2.3: no bare CR or LF).
  const clean = value.replace(/\r(?!\n)/g, " ").replace(/\r?\n(?![ \t])/g, "\r\n\t")
    .replace(/(?<!\r)\n/g, "\r\n");
  return encoder.encode(`${name}: ${clean}\r\n`);
}

/** A message whose header fields plugins may read and edit. */
export class Message {
  #fields: Field[];
  /** Everything after the header fields, blank line included. */
  #body: Uint8Array;
  /** Octets of the blank line at the start of `#body` (0 or 2). */
  #separator: number;

  private constructor(fields: Field[], body: Uint8Array, separator = 0) {
    this.#fields = fields;
    this.#body = body;
    this.#separator = separator;
  }

  /** Splits raw message bytes into header fields and body. */
  static parse(bytes: Uint8Array): Message {
    const end = findHeaderEnd(bytes);
    if (end === -1) return new Message([], bytes);
    const fields: Field[] = [];
    let start = 0;
    while (start < end) {
      let lineEnd = bytes.indexOf(10, start) + 1;
      // Continuation lines start with white space (RFC 5322 §2.2.3).
      while (lineEnd < end && (bytes[lineEnd] === 32 || bytes[lineEnd] === 9)) {
        lineEnd = bytes.indexOf(10, lineEnd) + 1;
      }
      if (lineEnd === 0) lineEnd = end;
      const raw = bytes.subarray(start, lineEnd);
      const colon = raw.indexOf(58);
      if (colon <= 0) return new Message([], bytes); // not a header section after all
      fields.push({ name: decoder.decode(raw.subarray(0, colon)).trim(), raw });
      start = lineEnd;
    }
    return new Message(fields, bytes.subarray(end), end < bytes.byteLength ? 2 : 0);
  }

  /** The first value of header `name` (case-insensitive), unfolded. */
  get(name: string): string | undefined {
    return this.getAll(name)[0];
  }

  /** Every value of header `name`, in order. */
  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    return this.#fields.filter((f) => f.name.toLowerCase() === lower).map((f) => {
      const text = decoder.decode(f.raw);
      return text.slice(text.indexOf(":") + 1).replace(/\r?\n[ \t]/g, " ").trim();
    });
  }

  /** Header names in order, for inspection. */
  get headerNames(): string[] {
    return this.#fields.map((f) => f.name);
  }

  /** Adds a header above all others (trace fields, RFC 5321 §4.4). */
  prepend(name: string, value: string): void {
    this.#fields.unshift({ name, raw: formatField(name, value) });
  }

  /** Adds a header after all others. */
  append(name: string, value: string): void {
    this.#fields.push({ name, raw: formatField(name, value) });
  }

  /** Replaces the first `name` header, or appends it when absent. */
  set(name: string, value: string): void {
    const lower = name.toLowerCase();
    const index = this.#fields.findIndex((f) => f.name.toLowerCase() === lower);
    const field = { name, raw: formatField(name, value) };
    if (index === -1) this.#fields.push(field);
    else {
      this.#fields[index] = field;
      this.#fields = this.#fields.filter((f, i) => i <= index || f.name.toLowerCase() !== lower);
    }
  }

  /** Removes every `name` header; returns how many went. */
  remove(name: string): number {
    const lower = name.toLowerCase();
    const before = this.#fields.length;
    this.#fields = this.#fields.filter((f) => f.name.toLowerCase() !== lower);
    return before - this.#fields.length;
  }

  /** The body (after the blank line), or everything if there are no headers. */
  get body(): Uint8Array {
    return this.#body.subarray(this.#separator);
  }

  /** The whole message as it will be stored. */
  toBytes(): Uint8Array {
    return concatBytes([...this.#fields.map((f) => f.raw), this.#body]);
  }

  /** Size in octets of {@linkcode toBytes}. */
  get size(): number {
    return this.#fields.reduce((n, f) => n + f.raw.byteLength, this.#body.byteLength);
  }
}
