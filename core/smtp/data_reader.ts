/**
 * Reads a DATA body (RFC 5321 §4.1.1.4): undoes dot-stuffing exactly and
 * stops only at `CRLF . CRLF`. Bare CR and bare LF never end the message,
 * which is what defeats SMTP smuggling; they are refused or normalized.
 *
 * @module
 */
import { ClientGone, type Input } from "./input.ts";

/** What to do with a bare LF inside the message. */
export type BareLfPolicy = "reject" | "normalize";

/** Limits and policies for {@linkcode readDotData}. */
export interface DataLimits {
  /** Message bytes kept at most; more is read and dropped. */
  maxBytes: number;
  /** Longest text line, CRLF included (RFC 5321 §4.5.3.1.6: 1000). */
  maxLineLength: number;
  bareLf: BareLfPolicy;
}

/** The body as received, plus anything wrong with it. */
export interface DataResult {
  /** The unstuffed message bytes, in order. */
  parts: Uint8Array[];
  size: number;
  tooBig: boolean;
  bareLf: boolean;
  bareCr: boolean;
  longLine: boolean;
}

const LF = 10;
const CR = 13;
const DOT = 46;
const CRLF = new Uint8Array([CR, LF]);

/** Reads the message after a 354 reply up to and including `CRLF.CRLF`. */
export async function readDotData(input: Input, limits: DataLimits): Promise<DataResult> {
  const result: DataResult = {
    parts: [],
    size: 0,
    tooBig: false,
    bareLf: false,
    bareCr: false,
    longLine: false,
  };
  const emit = (bytes: Uint8Array) => {
    if (bytes.byteLength === 0) return;
    result.size += bytes.byteLength;
    if (result.size > limits.maxBytes) result.tooBig = true;
    else result.parts.push(bytes);
  };
  // The DATA command itself ended a line, so the body starts at a line start.
  let midLine = false;
  let afterCrlf = true;
  let lineLength = 0;

  for (;;) {
    const { buf, pos: begin } = input.view();
    let pos = begin;
    let runStart = pos;
    for (;;) {
      const lf = buf.indexOf(LF, pos);
      if (lf === -1) {
        // Keep a short partial line buffered: it might still be ".\r\n".
        // A long one cannot be; pass it on, holding back one byte so a CR
        // at the end is judged together with the byte that follows it.
        const partial = buf.byteLength - pos;
        if (partial > 3 || (midLine && partial > 1)) {
          const cut = buf.byteLength - 1;
          if (hasCr(buf, pos, cut)) result.bareCr = true;
          if (!midLine && buf[pos] === DOT) {
            emit(buf.subarray(runStart, pos));
            runStart = pos + 1;
            lineLength -= 1; // the stuffed dot is not counted (RFC 5321 §4.5.3.1.6)
          }
          lineLength += cut - pos;
          midLine = true;
          pos = cut;
        }
        emit(buf.subarray(runStart, pos));
        break;
      }
      const lineStart = pos;
      const crlf = lf > lineStart && buf[lf - 1] === CR;
      if (!midLine && afterCrlf && crlf && lf - lineStart === 2 && buf[lineStart] === DOT) {
        emit(buf.subarray(runStart, lineStart));
        input.consumeTo(lf + 1);
        return result;
      }
      if (!midLine && buf[lineStart] === DOT) {
        // RFC 5321 §4.5.2: drop the leading dot of every stuffed line.
        emit(buf.subarray(runStart, lineStart));
        runStart = lineStart + 1;
        lineLength -= 1; // the stuffed dot is not counted (RFC 5321 §4.5.3.1.6)
      }
      if (hasCr(buf, lineStart, crlf ? lf - 1 : lf)) result.bareCr = true;
      lineLength += lf + 1 - lineStart + (crlf ? 0 : 1);
      if (lineLength > limits.maxLineLength) result.longLine = true;
      if (!crlf) {
        result.bareLf = true;
        if (limits.bareLf === "normalize") {
          emit(buf.subarray(runStart, lf));
          emit(CRLF);
          runStart = lf + 1;
        }
      }
      afterCrlf = crlf;
      midLine = false;
      lineLength = 0;
      pos = lf + 1;
    }
    input.consumeTo(pos);
    if (!await input.fill()) throw new ClientGone();
  }
}

function hasCr(buf: Uint8Array, from: number, to: number): boolean {
  const at = buf.indexOf(CR, from);
  return at !== -1 && at < to;
}
