import { test } from "node:test";
import assert from "node:assert/strict";
import { type DataLimits, type DataResult, readDotData } from "./data_reader.ts";
import { ClientGone, Input } from "./input.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const LIMITS: DataLimits = { maxBytes: 1_000_000, maxLineLength: 1000, bareLf: "reject" };

/** mulberry32: a tiny seeded PRNG so property runs are repeatable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function inputOf(chunks: string[]): Input {
  const queue = chunks.map((c) => encoder.encode(c));
  return new Input({
    read: () => Promise.resolve(queue.shift() ?? null),
    beforeWait: () => Promise.resolve(),
    idleTimeoutMs: 1000,
  });
}

/** Cuts `text` into chunks of `size` characters. */
function chunked(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

interface Read {
  body: string;
  /** What the next command would read after the message. */
  next: string;
  flags: Omit<DataResult, "parts">;
}

/** Reads one message from `chunks`, then everything that is left. */
async function read(chunks: string[], limits: Partial<DataLimits> = {}): Promise<Read> {
  const input = inputOf(chunks);
  const { parts, ...flags } = await readDotData(input, { ...LIMITS, ...limits });
  let body = "";
  for (const part of parts) body += decoder.decode(part, { stream: true });
  let next = "";
  do {
    const { buf, pos } = input.view();
    next += decoder.decode(buf.subarray(pos));
    input.consumeTo(buf.byteLength);
  } while (await input.fill());
  return { body, next, flags };
}

function clean(size: number) {
  return { size, tooBig: false, bareLf: false, bareCr: false, longLine: false };
}

test("readDotData() undoes dot-stuffing exactly", async () => {
  const got = await read(["a\r\n..x\r\n...\r\n..\r\n. \r\nend\r\n.\r\n"]);
  assert.equal(got.body, "a\r\n.x\r\n..\r\n.\r\n \r\nend\r\n");
  assert.deepEqual(got.flags, clean(got.body.length));
});

test("readDotData() ends on a terminator as the very first line", async () => {
  const got = await read([".\r\nQUIT\r\n"]);
  assert.equal(got.body, "");
  assert.equal(got.next, "QUIT\r\n");
  assert.deepEqual(got.flags, clean(0));
});

test("readDotData() leaves bytes after the terminator for the next command", async () => {
  const got = await read(["Subject: x\r\n\r\nhi\r\n.\r\nMAIL FROM:<a@b>\r\n", "RCPT TO:<c@d>\r\n"]);
  assert.equal(got.body, "Subject: x\r\n\r\nhi\r\n");
  assert.equal(got.next, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n");
});

test("readDotData() finds the terminator split across chunks at every offset", async () => {
  const wire = "hello\r\n..dot\r\n.\r\nNOOP\r\n";
  for (let cut = 1; cut < wire.length; cut++) {
    for (const second of [wire.length, cut + 1, cut + 2]) {
      const chunks = [wire.slice(0, cut), wire.slice(cut, second), wire.slice(second)];
      const got = await read(chunks.filter((c) => c !== ""));
      assert.equal(got.body, "hello\r\n.dot\r\n", JSON.stringify(chunks));
      assert.equal(got.next, "NOOP\r\n", JSON.stringify(chunks));
      assert.deepEqual(got.flags, clean(13), JSON.stringify(chunks));
    }
  }
  const bytewise = await read(chunked(wire, 1));
  assert.equal(bytewise.body, "hello\r\n.dot\r\n");
  assert.equal(bytewise.next, "NOOP\r\n");
});

test("readDotData() never ends on a bare LF or bare CR look-alike", async () => {
  // SMTP smuggling: only CRLF . CRLF ends the data (RFC 5321 §4.1.1.4).
  const cases: [string, string, { bareLf: boolean; bareCr: boolean }][] = [
    ["a\n.\nb\r\n.\r\nNEXT", "a\n\nb\r\n", { bareLf: true, bareCr: false }],
    ["a\n.\r\nb\r\n.\r\nNEXT", "a\n\r\nb\r\n", { bareLf: true, bareCr: false }],
    ["a\r\n.\nb\r\n.\r\nNEXT", "a\r\n\nb\r\n", { bareLf: true, bareCr: false }],
    ["a\r.\r\nb\r\n.\r\nNEXT", "a\r.\r\nb\r\n", { bareLf: false, bareCr: true }],
    ["a\r\n.\rb\r\n.\r\nNEXT", "a\r\n\rb\r\n", { bareLf: false, bareCr: true }],
    ["a\nb\r\n.\r\nNEXT", "a\nb\r\n", { bareLf: true, bareCr: false }],
    ["a\rb\r\n.\r\nNEXT", "a\rb\r\n", { bareLf: false, bareCr: true }],
  ];
  for (const [wire, body, flags] of cases) {
    for (const size of [wire.length, 1, 2, 3]) {
      const label = `${JSON.stringify(wire)} in chunks of ${size}`;
      const got = await read(chunked(wire, size));
      assert.equal(got.body, body, label);
      assert.equal(got.next, "NEXT", label);
      assert.equal(got.flags.bareLf, flags.bareLf, label);
      assert.equal(got.flags.bareCr, flags.bareCr, label);
    }
  }
});

test("readDotData() with normalize turns bare LF into CRLF and still needs CRLF.CRLF", async () => {
  const cases: [string, string][] = [
    ["a\nb\r\n.\r\nNEXT", "a\r\nb\r\n"],
    ["a\n.\nb\r\n.\r\nNEXT", "a\r\n\r\nb\r\n"],
    ["a\n.\r\nb\r\n.\r\nNEXT", "a\r\n\r\nb\r\n"],
    ["\n\n.\r\n.\r\nNEXT", "\r\n\r\n\r\n"],
  ];
  for (const [wire, body] of cases) {
    for (const size of [wire.length, 1, 2, 5]) {
      const label = `${JSON.stringify(wire)} in chunks of ${size}`;
      const got = await read(chunked(wire, size), { bareLf: "normalize" });
      assert.equal(got.body, body, label);
      assert.equal(got.next, "NEXT", label);
      assert.equal(got.flags.bareLf, true, label);
      assert.equal(got.flags.size, body.length, label);
    }
  }
});

test("readDotData() flags a line over maxLineLength, CRLF included", async () => {
  const fits = `${"x".repeat(998)}\r\n`;
  const long = `${"x".repeat(999)}\r\n`;
  for (const size of [100_000, 7, 1000]) {
    const ok = await read(chunked(`${fits}.\r\n`, size));
    assert.equal(ok.flags.longLine, false, `fits, chunks of ${size}`);
    const bad = await read(chunked(`a\r\n${long}b\r\n.\r\n`, size));
    assert.equal(bad.flags.longLine, true, `long, chunks of ${size}`);
    assert.equal(bad.body, `a\r\n${long}b\r\n`);
  }
});

test("readDotData() unstuffs a long line that starts with a dot", async () => {
  // RFC 5321 §4.5.3.1.6: the limit does not count the stuffed dot.
  for (const size of [100_000, 7, 1]) {
    const fits = await read(chunked(`.${"x".repeat(998)}\r\n.\r\n`, size));
    assert.equal(fits.body, `${"x".repeat(998)}\r\n`, `chunks of ${size}`);
    assert.equal(fits.flags.longLine, false, `chunks of ${size}`);
    const long = await read(chunked(`..${"x".repeat(1000)}\r\n.\r\n`, size));
    assert.equal(long.body, `.${"x".repeat(1000)}\r\n`, `chunks of ${size}`);
    assert.equal(long.flags.longLine, true, `chunks of ${size}`);
  }
});

test("readDotData() marks tooBig past maxBytes but reads on to the terminator", async () => {
  const wire = "0123456789\r\nabcdef\r\n.\r\nNOOP\r\n";
  for (const size of [wire.length, 4]) {
    const input = inputOf(chunked(wire, size));
    const result = await readDotData(input, { ...LIMITS, maxBytes: 12 });
    assert.equal(result.tooBig, true);
    assert.equal(result.size, 20);
    const kept = result.parts.reduce((n, p) => n + p.byteLength, 0);
    assert.ok(kept <= 12, `kept ${kept} bytes`);
    assert.deepEqual(await input.readLine(512), { line: encoder.encode("NOOP"), tooLong: false });
  }
  const exact = await read([wire], { maxBytes: 20 });
  assert.equal(exact.flags.tooBig, false);
  assert.equal(exact.body, "0123456789\r\nabcdef\r\n");
});

test("readDotData() throws ClientGone when the stream ends mid-message", async () => {
  for (const chunks of [[], ["abc\r\n"], ["abc\r\n."], ["abc\r\n.\r"], ["a\n.\n"]]) {
    await assert.rejects(readDotData(inputOf(chunks), LIMITS), ClientGone, chunks.join("|"));
  }
});

test("readDotData() keeps 8-bit bytes intact", async () => {
  const got = await read(["Subject: é\r\n\r\n日本語\r\n.\r\n"]);
  assert.equal(got.body, "Subject: é\r\n\r\n日本語\r\n");
});

test("readDotData() returns stuffed random bodies exactly, however they are chunked (property)", async () => {
  const random = prng(0xda7a);
  const alphabet = ["a", "b", " ", ".", ".", "\t", "é", "-", "Z"];
  for (let run = 0; run < 300; run++) {
    const lines: string[] = [];
    const count = Math.floor(random() * 12);
    for (let i = 0; i < count; i++) {
      // Up to 998 octets, the most a line may hold before its CRLF.
      const octets = random() < 0.1 ? 900 + Math.floor(random() * 97) : Math.floor(random() * 12);
      let line = "";
      while (encoder.encode(line).byteLength < octets) {
        line += alphabet[Math.floor(random() * alphabet.length)];
      }
      lines.push(line);
    }
    const body = lines.map((line) => `${line}\r\n`).join("");
    // A client stuffs every line that starts with a dot (RFC 5321 §4.5.2).
    const wire = lines.map((line) => `${line.startsWith(".") ? "." : ""}${line}\r\n`).join("") +
      ".\r\nQUIT\r\n";
    const bytes = encoder.encode(wire);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.byteLength;) {
      const size = 1 + Math.floor(random() * (random() < 0.5 ? 4 : 64));
      chunks.push(bytes.subarray(at, at + size));
      at += size;
    }
    const input = new Input({
      read: () => Promise.resolve(chunks.shift() ?? null),
      beforeWait: () => Promise.resolve(),
      idleTimeoutMs: 1000,
    });
    const { parts, ...flags } = await readDotData(input, LIMITS);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.byteLength;
    }
    const label = JSON.stringify(wire.slice(0, 200));
    assert.deepEqual(out, encoder.encode(body), label);
    assert.deepEqual(flags, clean(out.byteLength), label);
    assert.deepEqual(await input.readLine(512), { line: encoder.encode("QUIT"), tooLong: false });
  }
});
