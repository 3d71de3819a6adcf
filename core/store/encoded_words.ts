/**
 * Decodes RFC 2047 encoded-words (`=?charset?B|Q?text?=`) in header values
 * for display. Anything it cannot decode (an unknown charset, bad base64)
 * is left as it was, so the raw text still shows.
 *
 * @example
 * ```ts
 * decodeEncodedWords("=?UTF-8?Q?caf=C3=A9?= au lait"); // "café au lait"
 * ```
 *
 * @module
 */

const WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
/** RFC 2047 §6.2: white space between two adjacent encoded-words is dropped. */
const BETWEEN_WORDS = /(\?=)[ \t\r\n]+(?==\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)/g;

function qBytes(text: string): Uint8Array | undefined {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "_") out.push(0x20); // RFC 2047 §4.2 (2)
    else if (c === "=") {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      out.push(parseInt(hex, 16));
      i += 2;
    } else out.push(c.charCodeAt(0) & 0xff);
  }
  return new Uint8Array(out);
}

function bBytes(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return undefined;
  try {
    const binary = atob(text);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function decodeWord(word: string, charset: string, encoding: string, text: string): string {
  // RFC 2231 §5: a language tag may follow the charset after `*`.
  const name = charset.split("*")[0] as string;
  const bytes = encoding.toUpperCase() === "B" ? bBytes(text) : qBytes(text);
  if (bytes === undefined) return word;
  try {
    return new TextDecoder(name, { fatal: true }).decode(bytes);
  } catch {
    return word;
  }
}

/** `value` with its encoded-words decoded; undecodable words stay raw. */
export function decodeEncodedWords(value: string): string {
  if (!value.includes("=?")) return value;
  return value.replace(BETWEEN_WORDS, "$1").replace(WORD, decodeWord);
}
