/**
 * Property and fuzz tests (fast-check) for everything that reads client
 * bytes: the address and parameter parsers, the MAIL/RCPT checks, the line
 * and DATA/BDAT readers, and whole sessions. The rule under test: parsers
 * return a value or throw SmtpError, readers throw nothing but ClientGone,
 * and a session always ends with well-formed replies (issue 4, "Fuzzing").
 *
 * A failure prints fast-check's seed and path; replay one with
 * `fc.assert(..., { seed, path })`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isValidDomain, parseMailbox, parsePath } from "../core/smtp/address.ts";
import { readDotData } from "../core/smtp/data_reader.ts";
import { checkMail, checkRcpt, type EnvelopeRules } from "../core/smtp/envelope.ts";
import { ClientGone } from "../core/smtp/input.ts";
import { decodeXtext, parseMailParams, parseRcptParams, splitParams } from "../core/smtp/params.ts";
import { SmtpError } from "../core/smtp/reply.ts";
import {
  adversarialBytes,
  binary,
  chunkSizes,
  concat,
  dotStuff,
  drain,
  inputOf,
  modelDotData,
  split,
} from "./helpers/fuzz_bytes.ts";
import { parseReplies, runSession, script, settings } from "./helpers/fuzz_session.ts";

const RUNS = { numRuns: 500 };
const encoder = new TextEncoder();

/** Calls `fn`; a thrown SmtpError is an answer, anything else fails the property. */
function answerOrSmtpError<T>(fn: () => T): T | SmtpError {
  try {
    return fn();
  } catch (error) {
    if (error instanceof SmtpError) return error;
    throw error;
  }
}

/** Strings with the characters address and parameter syntax hinge on. */
const fragments = fc.array(
  fc.oneof(
    fc.constantFrom(
      "<",
      ">",
      "@",
      '"',
      "\\",
      ".",
      ",",
      ":",
      ";",
      " ",
      "=",
      "+",
      "+2B",
      "[",
      "]",
      "IPv6:",
      "::",
      "Postmaster",
      "example.org",
      "FROM:",
      "TO:",
      "SIZE=9",
      "NOTIFY=",
      "ORCPT=rfc822;",
      "é",
      "\u212a",
      "\t",
    ),
    fc.string({ maxLength: 8 }),
    fc.string({ unit: "binary", maxLength: 8 }),
    fc.emailAddress(),
    fc.domain(),
  ),
  { maxLength: 12 },
).map((parts) => parts.join(""));

test("parseMailbox() returns a mailbox that re-parses to itself, or undefined", () => {
  fc.assert(
    fc.property(fc.oneof(fragments, fc.emailAddress()), (text) => {
      const mailbox = parseMailbox(text);
      if (mailbox === undefined) return;
      assert.equal(mailbox.address, `${mailbox.local}@${mailbox.domain}`);
      assert.ok(isValidDomain(mailbox.domain));
      assert.ok(encoder.encode(mailbox.local).byteLength <= 64);
      const again = parseMailbox(mailbox.address);
      assert.deepEqual(again && { ...again, utf8: mailbox.utf8 }, mailbox);
    }),
    RUNS,
  );
});

test("parseMailbox() accepts every address fast-check's emailAddress() makes", () => {
  fc.assert(
    fc.property(fc.emailAddress(), (text) => {
      assert.equal(parseMailbox(text)?.address, text.replace(/@[^@]*$/, (d) => d.toLowerCase()));
    }),
    RUNS,
  );
});

test("isValidDomain() never throws and accepts domain names and IP literals", () => {
  fc.assert(
    fc.property(fragments, (text) => void isValidDomain(text)),
    RUNS,
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.domain(),
        fc.ipV4().map((ip) => `[${ip}]`),
        fc.ipV6().map((ip) => `[IPv6:${ip}]`),
      ),
      (domain) => assert.ok(isValidDomain(domain), domain),
    ),
    RUNS,
  );
});

test("parsePath() never throws and its mailbox and rest survive a re-parse", () => {
  fc.assert(
    fc.property(fragments, fc.boolean(), (text, allowNull) => {
      const path = parsePath(text, { allowNull });
      if (path === "syntax" || path === "address") return;
      assert.equal(path.rest, path.rest.trim());
      if (path.mailbox === null) return assert.ok(allowNull);
      const again = parsePath(`<${path.mailbox.address}> ${path.rest}`, { allowNull });
      assert.ok(typeof again === "object", `${text} → ${path.mailbox.address} → ${again}`);
      assert.deepEqual(
        again.mailbox && { ...again.mailbox, utf8: path.mailbox.utf8 },
        path.mailbox,
      );
      assert.equal(again.rest, path.rest);
    }),
    RUNS,
  );
});

test("splitParams(), parseMailParams(), parseRcptParams() and decodeXtext() throw only SmtpError", () => {
  fc.assert(
    fc.property(fragments, (text) => {
      const split = answerOrSmtpError(() => splitParams(text));
      if (!(split instanceof SmtpError)) {
        for (const key of split.keys()) assert.match(key, /^[A-Z0-9][A-Z0-9-]*$/);
      }
      for (const fn of [parseMailParams, parseRcptParams, decodeXtext]) {
        const result = answerOrSmtpError(() => fn(text));
        if (result instanceof SmtpError) assert.match(`${result.reply.code}`, /^5(01|55)$/);
      }
    }),
    RUNS,
  );
});

/** RFC 3461 §4 xtext encoding of an ASCII string. */
function xtext(text: string): string {
  return text.replace(
    /[^\x21-\x2a\x2c-\x3c\x3e-\x7e]/g,
    (c) => "+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"),
  );
}

test("parseMailParams() reads back any valid parameter set in any case and order", () => {
  const ascii = fc.string({ unit: "binary-ascii", maxLength: 30 });
  fc.assert(
    fc.property(
      fc.record({
        size: fc.option(fc.nat(), { nil: undefined }),
        body: fc.option(fc.constantFrom("7BIT" as const, "8BITMIME" as const), { nil: undefined }),
        smtputf8: fc.boolean(),
        ret: fc.option(fc.constantFrom("FULL" as const, "HDRS" as const), { nil: undefined }),
        envid: fc.option(ascii.filter((s) => s !== "" && xtext(s).length <= 100), {
          nil: undefined,
        }),
      }),
      fc.func(fc.boolean()),
      fc.constantFrom(" ", "  "),
      (params, lower, gap) => {
        const words = [
          params.size !== undefined && `SIZE=${params.size}`,
          params.body && `BODY=${params.body}`,
          params.smtputf8 && "SMTPUTF8",
          params.ret && `RET=${params.ret}`,
          params.envid !== undefined && `ENVID=${xtext(params.envid)}`,
        ].filter((w): w is string => typeof w === "string")
          .map((w, i) => lower(i, w) ? w.replace(/^[^=]*/, (k) => k.toLowerCase()) : w);
        const parsed = parseMailParams(words.reverse().join(gap));
        const expected = Object.fromEntries(
          Object.entries(params).filter(([, v]) => v !== undefined),
        );
        assert.deepEqual(parsed, expected);
      },
    ),
    RUNS,
  );
});

test("decodeXtext() undoes xtext for every ASCII string", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary-ascii" }), (text) => {
      assert.equal(decodeXtext(xtext(text)), text);
    }),
    RUNS,
  );
});

const rules = fc.record({
  esmtp: fc.boolean(),
  maxMessageSize: fc.constantFrom(0, 10, 1_000_000),
  primaryDomain: fc.constantFrom("example.org", "xn--bcher-kva.example"),
});

test("checkMail() and checkRcpt() return a consistent envelope or throw SmtpError", () => {
  const argument = fc.oneof(
    fragments,
    fc.tuple(fc.constantFrom("FROM:", "TO:", "from: ", "to:"), fragments).map(([a, b]) => a + b),
  );
  fc.assert(
    fc.property(argument, rules, (text, r: EnvelopeRules) => {
      const mail = answerOrSmtpError(() => checkMail("MAIL", text, r));
      if (mail instanceof SmtpError) {
        assert.ok([501, 552, 553, 555].includes(mail.reply.code), mail.message);
      } else {
        assert.ok(!mail.sender?.utf8 || mail.params.smtputf8);
        assert.ok((mail.params.size ?? 0) <= r.maxMessageSize);
        if (!r.esmtp) assert.deepEqual(mail.params, { smtputf8: false });
      }
      const rcpt = answerOrSmtpError(() => checkRcpt(text, { smtputf8: false }, r));
      if (rcpt instanceof SmtpError) {
        assert.ok([501, 553, 555].includes(rcpt.reply.code), rcpt.message);
      } else {
        assert.ok(!rcpt.mailbox.utf8);
        assert.ok(isValidDomain(rcpt.mailbox.domain));
        if (!r.esmtp) assert.deepEqual(rcpt.params, {});
      }
    }),
    RUNS,
  );
});

/** The lines a reader must find in `bytes` for `max` (Input.readLine contract). */
function modelLines(bytes: Uint8Array, max: number): string[] {
  const text = binary(bytes);
  const lines: string[] = [];
  let start = 0;
  for (let lf = text.indexOf("\n"); lf !== -1; lf = text.indexOf("\n", start)) {
    const raw = text.slice(start, lf + 1);
    lines.push(raw.length > max ? "TOO LONG" : raw.replace(/\r?\n$/, ""));
    start = lf + 1;
  }
  if (text.length - start > max) lines.push("TOO LONG");
  return lines;
}

test("Input.readLine() finds the same lines whatever the chunking", async () => {
  await fc.assert(
    fc.asyncProperty(
      adversarialBytes(),
      chunkSizes,
      fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constantFrom(512, 1000)),
      async (bytes, sizes, max) => {
        const input = inputOf(split(bytes, sizes));
        const lines: string[] = [];
        for (let r = await input.readLine(max); r !== null; r = await input.readLine(max)) {
          lines.push(r.tooLong ? "TOO LONG" : binary(r.line));
        }
        assert.deepEqual(lines, modelLines(bytes, max));
      },
    ),
    RUNS,
  );
});

test("Input.readBytes() returns exactly the kept prefix and leaves the rest", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 400 }),
      chunkSizes,
      fc.array(fc.tuple(fc.nat(120), fc.nat(120)), { maxLength: 6 }),
      async (bytes, sizes, reads) => {
        const input = inputOf(split(bytes, sizes));
        let at = 0;
        for (const [count, keep] of reads) {
          if (at + count > bytes.byteLength) {
            await assert.rejects(input.readBytes(count, keep), ClientGone);
            return;
          }
          const kept = concat(await input.readBytes(count, keep));
          assert.deepEqual(kept, bytes.slice(at, at + Math.min(count, keep)));
          at += count;
        }
        assert.deepEqual(await drain(input), bytes.slice(at));
      },
    ),
    RUNS,
  );
});

test("readDotData() matches the model on adversarial streams, or throws ClientGone", async () => {
  await fc.assert(
    fc.asyncProperty(
      adversarialBytes(),
      chunkSizes,
      fc.boolean(),
      fc.oneof(fc.constant(1_000_000), fc.nat(300)),
      async (bytes, sizes, normalize, maxBytes) => {
        const expected = modelDotData(bytes, { normalize, maxLineLength: 1000 });
        const input = inputOf(split(bytes, sizes));
        const limits = {
          maxBytes,
          maxLineLength: 1000,
          bareLf: normalize ? "normalize" : "reject",
        };
        let result;
        try {
          result = await readDotData(input, limits as Parameters<typeof readDotData>[1]);
        } catch (error) {
          assert.ok(error instanceof ClientGone, String(error));
          assert.equal(expected, null, "threw ClientGone although a terminator came");
          return;
        }
        assert.ok(expected, "returned without a terminator");
        const body = binary(concat(result.parts));
        // Nothing past the terminator: only normalized bare LFs may add octets.
        if (!normalize) assert.ok(result.size <= expected.end, "read past the terminator");
        assert.equal(result.size, expected.body.byteLength);
        assert.equal(result.tooBig, expected.body.byteLength > maxBytes);
        if (result.tooBig) assert.ok(binary(expected.body).startsWith(body));
        else assert.equal(body, binary(expected.body));
        assert.deepEqual(
          { bareLf: result.bareLf, bareCr: result.bareCr, longLine: result.longLine },
          { bareLf: expected.bareLf, bareCr: expected.bareCr, longLine: expected.longLine },
        );
        assert.equal(binary(await drain(input)), binary(expected.rest));
      },
    ),
    RUNS,
  );
});

test("readDotData() gives back exactly what a model client dot-stuffed", async () => {
  await fc.assert(
    fc.asyncProperty(
      adversarialBytes(),
      adversarialBytes(4),
      chunkSizes,
      async (message, after, sizes) => {
        const { wire, sent } = dotStuff(message);
        const input = inputOf(split(concat([wire, after]), sizes));
        const result = await readDotData(input, {
          maxBytes: 1_000_000,
          maxLineLength: 1_000_000,
          bareLf: "reject",
        });
        assert.equal(binary(concat(result.parts)), binary(sent));
        assert.equal(result.bareLf, /(^|[^\r])\n/.test(binary(sent)));
        assert.equal(result.bareCr, /\r(?!\n)/.test(binary(sent)));
        assert.equal(binary(await drain(input)), binary(after));
      },
    ),
    RUNS,
  );
});

/** How a script is cut into reads: one per step, random sizes, or all at once. */
const cutting = fc.oneof(fc.constant("steps" as const), chunkSizes);

test("Session.run() always resolves with well-formed replies, and QUIT gets 221", async () => {
  await fc.assert(
    fc.asyncProperty(script, cutting, settings, async (steps, cut, s) => {
      const chunks = cut === "steps" ? steps : split(concat(steps), cut);
      const run = await runSession(chunks, s);
      const errors = run.events.filter((e) => e.name.endsWith("_error"));
      assert.deepEqual(errors, [], "the session or a plugin threw");
      const replies = parseReplies(run.output);
      assert.equal(replies[0]?.code, 220);
      const quit = run.commands.some((c) => /^quit(\s|$)/i.test(c));
      const codes = replies.map((r) => r.code);
      assert.equal(codes.at(-1) === 221, quit, `QUIT dispatched: ${quit}; replies ${codes}`);
      assert.ok(codes.indexOf(221) === -1 || codes.indexOf(221) === codes.length - 1);
    }),
    { numRuns: 1000, timeout: 5000 },
  );
});

test("Session queues a model client's message byte for byte, by DATA or BDAT", async () => {
  const crlfLines = fc.array(
    fc.string({ unit: "binary", maxLength: 40 }).map((l) => l.replace(/[\r\n]/g, "") + "\r\n"),
    { maxLength: 20 },
  ).map((lines) => encoder.encode(lines.join("")));
  await fc.assert(
    fc.asyncProperty(crlfLines, fc.boolean(), chunkSizes, async (message, useBdat, sizes) => {
      const stuffed = dotStuff(message);
      const body = useBdat
        ? concat([encoder.encode(`BDAT ${message.byteLength} LAST\r\n`), message])
        : concat([encoder.encode("DATA\r\n"), stuffed.wire]);
      const sent = binary(useBdat ? message : stuffed.sent);
      const wire = concat([
        encoder.encode("EHLO c.example\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\n"),
        encoder.encode("RCPT TO:<x@example.org>\r\n"),
        body,
        encoder.encode("QUIT\r\n"),
      ]);
      const run = await runSession(split(wire, sizes), {
        hostname: "mx.test",
        primaryDomain: "example.org",
        isLocalDomain: () => true,
        maxMessageSize: 1_000_000,
        maxRecipients: 10,
        maxErrors: 10,
        idleTimeoutMs: 2000,
        bareLf: "reject",
      });
      const codes = parseReplies(run.output).map((r) => r.code);
      const queuedAt = codes.indexOf(250, 3);
      assert.ok(run.queued.length === 1 && queuedAt !== -1, `replies ${codes}`);
      const stored = binary(run.queued[0] ?? new Uint8Array());
      const received = stored.slice(0, stored.length - sent.length);
      assert.equal(stored.slice(received.length), sent);
      assert.match(
        received,
        /^Received: from c\.example \(\[192\.0\.2\.7\]\)\r\n\tby mx\.test \(Postino\) with UTF8SMTP id QID\r\n\tfor <x@example\.org>;\r\n\t[^\r\n]+\r\n$/,
      );
      assert.equal(codes.at(-1), 221);
    }),
    RUNS,
  );
});
