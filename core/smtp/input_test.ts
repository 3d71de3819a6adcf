import { test } from "node:test";
import assert from "node:assert/strict";
import { ClientGone, DeadlineExceeded, IdleTimeout, Input, type LineResult } from "./input.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An Input over scripted chunks; `waits` records `buffered` at each beforeWait. */
function scripted(chunks: (string | Uint8Array)[], idleTimeoutMs = 1000) {
  const queue = chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c);
  const waits: number[] = [];
  let reads = 0;
  const input: Input = new Input({
    read: () => {
      reads++;
      return Promise.resolve(queue.shift() ?? null);
    },
    beforeWait: () => {
      waits.push(input.buffered);
      return Promise.resolve();
    },
    idleTimeoutMs,
  });
  return { input, waits, reads: () => reads };
}

/** Reads lines until end of stream, as text or "TOO LONG". */
async function readAll(input: Input, max: number): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const result: LineResult | null = await input.readLine(max);
    if (result === null) return out;
    out.push(result.tooLong ? "TOO LONG" : decoder.decode(result.line));
  }
}

test("Input.readLine() joins lines split across chunks and strips CRLF or LF", async () => {
  const { input } = scripted(["HE", "LO a\r", "\nMAIL FROM:<", "a@b>\nQU", "IT\r\n"]);
  assert.deepEqual(await readAll(input, 512), ["HELO a", "MAIL FROM:<a@b>", "QUIT"]);
});

test("Input.readLine() returns null at end of stream, dropping an unterminated tail", async () => {
  const { input } = scripted(["NOOP\r\nQUI"]);
  assert.deepEqual(await input.readLine(512), { line: encoder.encode("NOOP"), tooLong: false });
  assert.equal(await input.readLine(512), null);
});

test("Input.readLine() keeps a lone CR inside the line and an empty line is empty", async () => {
  const { input } = scripted(["a\rb\r\n\r\n\n"]);
  assert.deepEqual(await readAll(input, 512), ["a\rb", "", ""]);
});

test("Input.readLine() counts the terminator against max", async () => {
  // max 10: "12345678\r\n" is exactly 10 octets, "123456789\r\n" is 11.
  const { input } = scripted(["12345678\r\n123456789\r\n", "123456789\n"]);
  assert.deepEqual(await readAll(input, 10), ["12345678", "TOO LONG", "123456789"]);
});

test("Input.readLine() reports a too-long line and the next line still reads", async () => {
  const { input } = scripted([`${"x".repeat(40)}\r\nNOOP\r\n`]);
  assert.deepEqual(await readAll(input, 16), ["TOO LONG", "NOOP"]);
});

test("Input.readLine() skips a long line spread over many chunks with bounded memory", async () => {
  const chunks: string[] = [];
  for (let i = 0; i < 200; i++) chunks.push("y".repeat(7));
  chunks.push("yy\r\nRSET\r", "\n");
  const { input } = scripted(chunks);
  let peak = 0;
  const read = () => input.readLine(32);
  // Watch `buffered` after every fill by wrapping fill.
  const fill = input.fill.bind(input);
  input.fill = async () => {
    const more = await fill();
    peak = Math.max(peak, input.buffered);
    return more;
  };
  assert.deepEqual(await read(), { line: null, tooLong: true });
  assert.deepEqual(await read(), { line: encoder.encode("RSET"), tooLong: false });
  assert.equal(await read(), null);
  assert.ok(peak <= 32 + 7, `buffer grew to ${peak}`);
});

test("Input.readLine() reports tooLong when the stream ends inside a long line", async () => {
  const { input } = scripted(["z".repeat(50)]);
  assert.deepEqual(await input.readLine(16), { line: null, tooLong: true });
  assert.equal(await input.readLine(16), null);
});

test("Input.readBytes() reads exactly count bytes across chunks, keeping at most keep", async () => {
  const { input } = scripted(["abc", "defg", "hij\r\nNOOP\r\n"]);
  const parts = await input.readBytes(10, 5);
  assert.equal(decoder.decode(concat(parts)), "abcde");
  // The dropped bytes are consumed too: the stream stays in step.
  assert.deepEqual(await readAll(input, 512), ["", "NOOP"]);
});

test("Input.readBytes() keeps everything when keep >= count and nothing when keep is 0", async () => {
  const { input } = scripted(["12", "345", "67"]);
  assert.equal(decoder.decode(concat(await input.readBytes(4, 100))), "1234");
  assert.deepEqual(await input.readBytes(2, 0), []);
  assert.equal(decoder.decode(concat(await input.readBytes(1, 1))), "7");
  assert.equal(input.buffered, 0);
});

test("Input.readBytes() throws ClientGone when the stream ends early", async () => {
  const { input } = scripted(["abc"]);
  await assert.rejects(input.readBytes(5, 5), ClientGone);
});

test("Input.readBytes() parts survive later reads unchanged", async () => {
  const { input } = scripted(["ab", "cd", "ef"]);
  const first = await input.readBytes(3, 3);
  await input.readBytes(3, 3);
  assert.equal(decoder.decode(concat(first)), "abc");
});

test("Input.readLine() calls beforeWait only when the buffer is empty", async () => {
  // RFC 2920 §3.1: replies to a pipelined group go out when we would block.
  const { input, waits, reads } = scripted([
    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
    "QUIT\r\n",
  ]);
  assert.deepEqual(await readAll(input, 512), ["MAIL FROM:<a@b>", "RCPT TO:<c@d>", "DATA", "QUIT"]);
  // One wait before each of the three reads (two chunks and the end of stream).
  assert.deepEqual(waits, [0, 0, 0]);
  assert.equal(reads(), 3);
});

test("Input.readBytes() does not wait while the bytes are already buffered", async () => {
  const { input, waits } = scripted(["BDAT 3\r\nabcNOOP\r\n"]);
  await input.readLine(512);
  assert.deepEqual(waits, [0]);
  await input.readBytes(3, 3);
  assert.deepEqual(await input.readLine(512), { line: encoder.encode("NOOP"), tooLong: false });
  assert.deepEqual(waits, [0]);
});

test("Input.fill() throws IdleTimeout when the client stays silent", async () => {
  const input = new Input({
    read: () => new Promise<Uint8Array | null>(() => {}),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 5,
  });
  await assert.rejects(input.readLine(512), IdleTimeout);
});

test("Input.discard() drops buffered bytes", async () => {
  const { input } = scripted(["STARTTLS\r\nEHLO injected\r\n", "EHLO real\r\n"]);
  assert.deepEqual(await input.readLine(512), { line: encoder.encode("STARTTLS"), tooLong: false });
  assert.equal(input.buffered, "EHLO injected\r\n".length);
  input.discard();
  assert.equal(input.buffered, 0);
  assert.deepEqual(await readAll(input, 512), ["EHLO real"]);
});

test("Input.setReader() switches the byte source", async () => {
  const { input } = scripted(["A\r\n", "never read\r\n"]);
  assert.deepEqual(await input.readLine(512), { line: encoder.encode("A"), tooLong: false });
  const tls = ["B\r\n"];
  input.setReader(() => Promise.resolve(tls.length ? encoder.encode(tls.shift()) : null));
  assert.deepEqual(await readAll(input, 512), ["B"]);
});

/** A reader that yields `text` one byte every `everyMs`, after `delayMs` of silence. */
function trickling(text: string, everyMs: number, delayMs = 0) {
  let i = 0;
  return () =>
    new Promise<Uint8Array | null>((resolve) => {
      const wait = i === 0 ? delayMs + everyMs : everyMs;
      setTimeout(() => resolve(i < text.length ? encoder.encode(text[i++]) : null), wait);
    });
}

test("Input.readLine() throws DeadlineExceeded when a line trickles past the command timeout", async () => {
  const input = new Input({
    read: trickling("MAIL FROM:<slow@example.org>\r\n", 10),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000, // never reached: a byte comes every 10 ms
    commandTimeoutMs: 80,
  });
  const started = performance.now();
  await assert.rejects(input.readLine(512), DeadlineExceeded);
  const took = performance.now() - started;
  assert.ok(took >= 70 && took < 500, `took ${took} ms`);
});

test("Input.readLine() starts the command deadline at the line's first byte", async () => {
  const input = new Input({
    read: trickling("NOOP\r\n", 5, 150), // silent for 150 ms, then 30 ms of bytes
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000,
    commandTimeoutMs: 100,
  });
  assert.deepEqual(await input.readLine(512), { line: encoder.encode("NOOP"), tooLong: false });
});

test("Input.readLine() uses an injected clock for the command deadline", async () => {
  let now = 0;
  let reads = 0;
  const input = new Input({
    read: () => {
      now += 60; // each byte "takes" 60 ms on the injected clock
      return Promise.resolve(encoder.encode(reads++ < 100 ? "x" : "\n"));
    },
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000,
    commandTimeoutMs: 100,
    now: () => now,
  });
  await assert.rejects(input.readLine(512), DeadlineExceeded);
  assert.ok(reads <= 4, `gave up after ${reads} reads`);
});

test("Input.startPhase() bounds readBytes() across chunks; endPhase() lifts the bound", async () => {
  const slow = new Input({
    read: trickling("x".repeat(100), 10),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000,
  });
  slow.startPhase(60);
  slow.startPhase(10_000); // a phase already running keeps its deadline
  await assert.rejects(slow.readBytes(100, 100), DeadlineExceeded);

  const lifted = new Input({
    read: trickling("abcdef", 10),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000,
  });
  lifted.startPhase(20);
  lifted.endPhase();
  assert.equal(decoder.decode(concat(await lifted.readBytes(6, 6))), "abcdef");
});

test("Input.startPhase() also bounds commands read during the phase (BDAT)", async () => {
  const input = new Input({
    read: trickling("BDAT 10 LAST\r\n", 10),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000,
    commandTimeoutMs: 10_000,
  });
  input.startPhase(50);
  await assert.rejects(input.readLine(512), DeadlineExceeded);
});

test("Input.listen() tells a quiet client from an early talker and keeps its bytes", async () => {
  const { input } = scripted(["EHLO early\r\n"]);
  assert.equal(await input.listen(50), "talked");
  assert.deepEqual(await input.readLine(512), {
    line: encoder.encode("EHLO early"),
    tooLong: false,
  });

  const late = new Input({
    read: trickling("EHLO late\r\n", 0, 80),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000,
  });
  assert.equal(await late.listen(20), "quiet");
  // The read started while listening is not lost: its byte starts the line.
  assert.deepEqual(await late.readLine(512), { line: encoder.encode("EHLO late"), tooLong: false });

  const gone = scripted([]);
  assert.equal(await gone.input.listen(50), "gone");
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
