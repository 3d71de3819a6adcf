/**
 * Queue ids: time-ordered, unique, and safe in file names and headers.
 *
 * @module
 */

const ALPHABET = "0123456789BCDFGHJKLMNPQRSTVWXZbcdfghjklmnpqrstvwxz";

/**
 * Makes a queue id: the time in milliseconds followed by 48 random bits, in
 * an alphabet without vowels (no accidental words), e.g. `3n7WQkd9xLq2Bt`.
 */
export function newQueueId(now: number = Date.now()): string {
  let time = "";
  for (let n = now; n > 0; n = Math.floor(n / ALPHABET.length)) {
    time = ALPHABET[n % ALPHABET.length] + time;
  }
  const random = crypto.getRandomValues(new Uint8Array(6));
  let tail = "";
  for (const byte of random) tail += ALPHABET[byte % ALPHABET.length];
  return time.padStart(8, "0") + tail;
}
