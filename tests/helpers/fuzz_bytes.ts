/**
 * Byte-level generators for tests/fuzz_test.ts: streams biased toward the
 * octets SMTP framing cares about (CR, LF, dot, NUL, long lines), random
 * chunkings of a stream, a model client's dot-stuffing, and a reference
 * model of what a DATA reader must make of any stream (RFC 5321 §4.1.1.4,
 * §4.5.2).
 */
import fc from "fast-check";
import { Input } from "../../core/smtp/input.ts";

const encoder = new TextEncoder();

/** Joins byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Bytes as a latin1 string, so assertion diffs stay readable. */
export function binary(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return text;
}

/** One octet, biased toward CR, LF, dot and NUL. */
export const biasedByte: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(13, 10, 46, 0) },
  { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

/** Fragments that sit on the edges of DATA framing and smuggling tricks. */
const TOKENS = [
  "\r\n",
  "\r",
  "\n",
  ".",
  "..",
  ".\r\n",
  "\r\n.\r\n",
  "\r\n..\r\n",
  "\n.\n",
  "\r\n.\n",
  "\n.\r\n",
  "\r.\r\n",
  "\r\r\n",
  "QUIT\r\n",
  "MAIL FROM:<a@b.example>\r\n",
];

const segment: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: fc.array(biasedByte, { maxLength: 12 }).map((a) => Uint8Array.from(a)) },
  { weight: 4, arbitrary: fc.constantFrom(...TOKENS).map((t) => encoder.encode(t)) },
  // Lines around the 512 (command) and 1000 (text) octet limits.
  {
    weight: 1,
    arbitrary: fc.integer({ min: 490, max: 1100 }).map((n) => new Uint8Array(n).fill(0x78)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
);

/** An adversarial byte stream of up to `maxSegments` pieces. */
export function adversarialBytes(maxSegments = 30): fc.Arbitrary<Uint8Array> {
  return fc.array(segment, { maxLength: maxSegments }).map(concat);
}

/** Chunk sizes, used in turn to cut a stream; 0 makes an empty read. */
export const chunkSizes: fc.Arbitrary<readonly number[]> = fc.oneof(
  fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 10 }),
  fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 10 }),
  fc.constant([1 << 30] as number[]), // everything in one read
).map((sizes) => sizes.some((n) => n > 0) ? sizes : [1, ...sizes]);

/** Cuts `bytes` into reads of the given sizes, cycling through them. */
export function split(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; at < bytes.byteLength; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}

/** An {@linkcode Input} that plays `chunks`, then end of stream. */
export function inputOf(chunks: readonly Uint8Array[]): Input {
  const queue = [...chunks];
  return new Input({
    read: () => Promise.resolve(queue.shift() ?? null),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 5000,
  });
}

/** Everything left in `input` until end of stream. */
export async function drain(input: Input): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  do {
    const { buf, pos } = input.view();
    parts.push(buf.slice(pos));
    input.consumeTo(buf.byteLength);
  } while (await input.fill());
  return concat(parts);
}

/**
 * What a model client sends for `message` after DATA: the message ending in
 * CRLF, a dot doubled at the start of every line (after any LF, so the
 * unstuffing is exact even with bare LFs), then `.CRLF`.
 */
export function dotStuff(message: Uint8Array): { wire: Uint8Array; sent: Uint8Array } {
  const n = message.byteLength;
  const sent = n >= 2 && message[n - 2] === 13 && message[n - 1] === 10
    ? message
    : concat([message, encoder.encode("\r\n")]);
  const out: number[] = [];
  sent.forEach((b, i) => {
    if (b === 46 && (i === 0 || sent[i - 1] === 10)) out.push(46);
    out.push(b);
  });
  out.push(46, 13, 10);
  return { wire: Uint8Array.from(out), sent };
}

/** What {@linkcode readDotData} must return for a stream, by a simple model. */
export interface DotModel {
  /** Offset of the terminating `.CRLF` in the stream. */
  end: number;
  body: Uint8Array;
  /** The bytes after the terminator, for the next command. */
  rest: Uint8Array;
  bareLf: boolean;
  bareCr: boolean;
  longLine: boolean;
}

/**
 * The reference model: the message ends at the first `.CRLF` that starts a
 * line after a CRLF (or the stream); every line is one ending in LF; a
 * leading dot is dropped; `normalize` turns a bare LF into CRLF. `null`
 * when the stream has no terminator (the reader must throw ClientGone).
 */
export function modelDotData(
  s: Uint8Array,
  options: { normalize: boolean; maxLineLength: number },
): DotModel | null {
  const text = binary(s);
  const end = text.startsWith(".\r\n") ? 0 : text.indexOf("\r\n.\r\n") + 2;
  if (end === 1) return null;
  const body: number[] = [];
  let longLine = false;
  let bareLf = false;
  let bareCr = false;
  for (let start = 0; start < end;) {
    const lf = text.indexOf("\n", start);
    const dot = s[start] === 46;
    const bare = lf === start || s[lf - 1] !== 13;
    for (let i = start; i < lf; i++) if (s[i] === 13 && s[i + 1] !== 10) bareCr = true;
    bareLf ||= bare;
    if (lf + 1 - start + (bare ? 1 : 0) - (dot ? 1 : 0) > options.maxLineLength) longLine = true;
    for (let i = dot ? start + 1 : start; i < lf; i++) body.push(s[i] ?? 0);
    if (bare && options.normalize) body.push(13);
    body.push(10);
    start = lf + 1;
  }
  return {
    end,
    body: Uint8Array.from(body),
    rest: s.slice(end + 3),
    bareLf,
    bareCr,
    longLine,
  };
}
