/**
 * Byte-level helpers for what the SMTP client puts on the wire: line-ending
 * normalisation (no bare CR or LF ever leaves us, RFC 5321 §2.3.8),
 * dot-stuffing (RFC 5321 §4.5.2) and xtext (RFC 3461 §4).
 *
 * @module
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/**
 * Returns `data` with every bare CR, bare LF and CR LF turned into CR LF,
 * ending in CR LF unless empty. Returns `data` itself when it is already so.
 *
 * @example
 * ```ts
 * normalizeCrlf(new TextEncoder().encode("a\nb\rc")); // "a\r\nb\r\nc\r\n"
 * ```
 */
export function normalizeCrlf(data: Uint8Array): Uint8Array {
  if (isNormalized(data)) return data;
  // Worst case: every byte is a bare CR or LF and doubles, plus a final CR LF.
  const out = new Uint8Array(data.byteLength * 2 + 2);
  let n = 0;
  for (let i = 0; i < data.byteLength; i++) {
    const byte = data[i] as number;
    if (byte === CR) {
      out[n++] = CR;
      out[n++] = LF;
      if (data[i + 1] === LF) i++;
    } else if (byte === LF) {
      out[n++] = CR;
      out[n++] = LF;
    } else {
      out[n++] = byte;
    }
  }
  if (n > 0 && out[n - 1] !== LF) {
    out[n++] = CR;
    out[n++] = LF;
  }
  return out.slice(0, n);
}

function isNormalized(data: Uint8Array): boolean {
  const length = data.byteLength;
  if (length === 0) return true;
  if (data[length - 2] !== CR || data[length - 1] !== LF) return false;
  for (let i = 0; i < length; i++) {
    const byte = data[i];
    if (byte === CR && data[i + 1] !== LF) return false;
    if (byte === LF && data[i - 1] !== CR) return false;
  }
  return true;
}

/**
 * Doubles the dot that starts any line (RFC 5321 §4.5.2). `data` must be
 * CR LF normalised; the terminating `.` line is not added.
 */
export function dotStuff(data: Uint8Array): Uint8Array {
  let dots = 0;
  for (let i = 0; i < data.byteLength; i++) {
    if (data[i] === DOT && (i === 0 || data[i - 1] === LF)) dots++;
  }
  if (dots === 0) return data;
  const out = new Uint8Array(data.byteLength + dots);
  let n = 0;
  for (let i = 0; i < data.byteLength; i++) {
    const byte = data[i] as number;
    if (byte === DOT && (i === 0 || data[i - 1] === LF)) out[n++] = DOT;
    out[n++] = byte;
  }
  return out;
}

/** Whether any byte of `data` has the high bit set (needs 8BITMIME). */
export function hasEightBit(data: Uint8Array): boolean {
  for (let i = 0; i < data.byteLength; i++) {
    if ((data[i] as number) > 0x7f) return true;
  }
  return false;
}

/**
 * Encodes `text` as xtext (RFC 3461 §4): printable ASCII except `+` and `=`
 * stays, every other byte of its UTF-8 form becomes `+HH`.
 *
 * @example
 * ```ts
 * encodeXtext("a+b=c d"); // "a+2Bb+3Dc+20d"
 * ```
 */
export function encodeXtext(text: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d
      ? String.fromCharCode(byte)
      : `+${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
