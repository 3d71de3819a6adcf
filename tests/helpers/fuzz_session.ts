/**
 * Session fuzzing for tests/fuzz_test.ts: generators of plausible and
 * garbage SMTP client scripts, an in-process run of {@linkcode Session}
 * over a scripted connection (the pattern of core/smtp/session_test.ts),
 * and a checker for the reply stream (RFC 5321 §4.2, RFC 3463).
 */
import fc from "fast-check";
import { accept } from "../../core/hooks/decision.ts";
import type { Plugin } from "../../core/hooks/plugin.ts";
import { HookRunner } from "../../core/hooks/runner.ts";
import type { Logger } from "../../core/log.ts";
import type { Conn } from "../../core/runtime/conn.ts";
import { Session, type SessionSettings } from "../../core/smtp/session.ts";
import { adversarialBytes, biasedByte, concat, dotStuff } from "./fuzz_bytes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A step of a client script: the bytes of one command (and its payload). */
export type Step = Uint8Array;

const line = (text: string, eol = "\r\n"): Step => encoder.encode(text + eol);

/** A verb in random letter case. */
function verb(name: string): fc.Arbitrary<string> {
  return fc.constantFrom(name, name.toLowerCase(), name[0] + name.slice(1).toLowerCase());
}

const word = fc.oneof(
  fc.constantFrom("c.example", "[192.0.2.1]", "x", "é.example", "a)b(", "2.1.5"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 16 }),
);
const address = fc.oneof(
  fc.constantFrom(
    "a@example.org",
    "b@example.org",
    "b@far.example",
    "Postmaster",
    "",
    "x@[127.0.0.1]",
    "y@[IPv6:::1]",
    "ü@example.org",
    '"q a"@example.org',
    "@r.example:a@example.org",
  ),
  fc.emailAddress(),
  fc.string({ maxLength: 20 }),
);
const mailParams = fc.array(
  fc.constantFrom(
    "SIZE=10",
    "SIZE=99999999999",
    "BODY=8BITMIME",
    "body=7bit",
    "SMTPUTF8",
    "RET=HDRS",
    "ENVID=a+2Bb",
    "ENVID=+zz",
    "FOO",
    "SIZE=",
  ),
  { maxLength: 3 },
).map((p) => p.join(" "));
const rcptParams = fc.array(
  fc.constantFrom("NOTIFY=SUCCESS,FAILURE", "NOTIFY=NEVER", "ORCPT=rfc822;a+40b", "NOTIFY=", "X=1"),
  { maxLength: 2 },
).map((p) => p.join(" "));
const eol = fc.constantFrom("\r\n", "\r\n", "\r\n", "\n");

/** Bytes of a BDAT chunk: its size usually right, sometimes not. */
const bdat = fc.tuple(
  verb("BDAT"),
  fc.uint8Array({ maxLength: 300 }),
  fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: -50, max: 2000 })),
  fc.constantFrom(" LAST", " last", "", " LAST x", "  LAST"),
).map(([v, payload, skew, last]) => {
  const size = Math.max(0, payload.byteLength + skew);
  return concat([line(`${v} ${size}${last}`), payload]);
});

/** DATA, then a model client's stuffed message or raw adversarial bytes. */
const data = fc.tuple(
  verb("DATA"),
  fc.oneof(
    adversarialBytes(12).map((m) => dotStuff(m).wire),
    adversarialBytes(20),
    fc.constant(encoder.encode("Subject: hi\r\n\r\nbody\r\n.\r\n")),
  ),
).map(([v, body]) => concat([line(v), body]));

const command: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom("EHLO", "HELO", "ehlo"), word, eol) },
  { weight: 4, arbitrary: fc.tuple(verb("MAIL"), fc.tuple(address, mailParams), eol) },
  { weight: 5, arbitrary: fc.tuple(verb("RCPT"), fc.tuple(address, rcptParams), eol) },
  {
    weight: 3,
    arbitrary: fc.tuple(
      fc.constantFrom("RSET", "NOOP", "HELP", "VRFY", "EXPN", "TURN", "SEND", "SOML", "SAML"),
      fc.constantFrom("", "x", "a@example.org", "FROM:<a@b.example>", "MAIL", "\x1b[1m"),
      eol,
    ),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("STARTTLS", "AUTH", "QUIT"), word, eol) },
).map(([v, arg, end]) => {
  if (typeof arg === "string") return line(arg === "" ? v : `${v} ${arg}`, end);
  const [path, params] = arg;
  const prefix = v.toUpperCase() === "MAIL" ? "FROM:" : "TO:";
  return line(`${v} ${prefix}<${path}>${params ? " " + params : ""}`, end);
});

const garbage: fc.Arbitrary<Step> = fc.oneof(
  fc.array(biasedByte, { maxLength: 30 }).map((b) => concat([Uint8Array.from(b), line("")])),
  fc.integer({ min: 500, max: 1500 }).map((n) => line("NOOP " + "x".repeat(n))),
  fc.constantFrom(
    line(""),
    line("NOOP\0"),
    line(" NOOP"),
    Uint8Array.from([0xff, 0xfe, 0xc3, 13, 10]),
    line(".", ""),
    line("QUIT", "\r"),
  ),
);

/** BDAT chunks of a message, the last one with LAST. */
const bdatChunks = fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 3 })
  .map((chunks) =>
    concat(chunks.flatMap((c, i) => [
      line(`BDAT ${c.byteLength}${i === chunks.length - 1 ? " LAST" : ""}`),
      c,
    ]))
  );

/** A whole transaction, mostly well formed, to reach the DATA and queue stages. */
const transaction: fc.Arbitrary<Step> = fc.tuple(
  fc.constantFrom("<>", "<a@b.example>", "<a@b.example> SIZE=50", "<ü@b.example> SMTPUTF8"),
  fc.array(
    fc.constantFrom("x@example.org", "Postmaster", "y@far.example", "é@example.org"),
    { minLength: 1, maxLength: 4 },
  ),
  fc.oneof(data, bdatChunks),
).map(([from, rcpts, payload]) =>
  concat([
    line(`MAIL FROM:${from}`),
    ...rcpts.map((r) => line(`RCPT TO:<${r}>`)),
    payload,
  ])
);

/** A client script: mostly plausible commands, some garbage, an optional QUIT. */
export const script: fc.Arbitrary<Step[]> = fc.tuple(
  fc.nat(4).map((n) => n > 0), // EHLO first, most of the time
  fc.array(
    fc.oneof(
      { weight: 8, arbitrary: command },
      { weight: 3, arbitrary: transaction },
      { weight: 3, arbitrary: data },
      { weight: 2, arbitrary: bdat },
      { weight: 2, arbitrary: garbage },
    ),
    { maxLength: 25 },
  ),
  fc.constantFrom(["QUIT\r\n"], ["quit\r\n"], ["QUIT\r\nNOOP\r\n"], []),
).map(([ehlo, steps, quit]) => [
  ...(ehlo ? [line("EHLO c.example")] : []),
  ...steps,
  ...quit.map((q) => encoder.encode(q)),
]);

/** Settings that make the deep states and the limits reachable. */
export const settings: fc.Arbitrary<SessionSettings> = fc.record({
  maxMessageSize: fc.constantFrom(100, 5000),
  maxRecipients: fc.integer({ min: 1, max: 3 }),
  maxErrors: fc.constantFrom(3, 10, 1000),
  bareLf: fc.constantFrom("reject" as const, "normalize" as const),
}).map((s) => ({
  hostname: "mx.test",
  primaryDomain: "example.org",
  isLocalDomain: (d: string) => d === "example.org",
  idleTimeoutMs: 2000,
  ...s,
}));

/** Accepts recipients in example.org and queues messages whose size is not a multiple of 7. */
export const PLUGINS: Plugin[] = [{
  name: "fuzz",
  rcpt: (_ctx, r) => r.mailbox.domain === "example.org" ? accept() : undefined,
  queue: (_ctx, message) => message.size % 7 === 0 ? undefined : accept(),
  vrfy: (_ctx, argument) => argument.startsWith("a") ? accept() : undefined,
}];

/** What a session run produced. */
export interface Run {
  /** Everything written, as text. */
  output: string;
  /** Command lines the session dispatched, from the protocol trace. */
  commands: string[];
  /** Mail events, by name. */
  events: { name: string; error?: unknown }[];
  /** Messages the queue hook saw, as bytes. */
  queued: Uint8Array[];
}

/** Runs a Session over `chunks`; resolves with what it wrote. */
export async function runSession(
  chunks: readonly Uint8Array[],
  sessionSettings: SessionSettings,
  plugins: readonly Plugin[] = PLUGINS,
): Promise<Run> {
  const queue = [...chunks];
  const writes: string[] = [];
  const run: Run = { output: "", commands: [], events: [], queued: [] };
  const conn: Conn = {
    remote: { address: "192.0.2.7", port: 4000 },
    local: { address: "127.0.0.1", port: 25 },
    read: () => Promise.resolve(queue.shift() ?? null),
    write: (bytes) => (writes.push(decoder.decode(bytes)), Promise.resolve()),
    close() {},
    startTls: () => Promise.reject(new Error("no TLS here")),
    startTlsClient: () => Promise.reject(new Error("no TLS here")),
  };
  const log: Logger = {
    tracing: true,
    event: (name, fields) => void run.events.push({ name, error: fields.error }),
    trace: (_conn, direction, text) => void (direction === "<" && run.commands.push(text)),
  };
  const spy: Plugin = {
    name: "spy",
    queue: (_ctx, message) => void run.queued.push(message.toBytes()),
  };
  const session = new Session({
    conn,
    connection: {
      id: "f",
      remote: conn.remote,
      local: conn.local,
      helo: undefined,
      tls: undefined,
      user: undefined,
    },
    runner: new HookRunner([spy, ...plugins], { timeoutMs: 500, log }),
    settings: sessionSettings,
    log,
    newQueueId: () => "QID",
  });
  await session.run();
  run.output = writes.join("");
  return run;
}

/** One parsed reply: its code and lines (text after `NNN-` / `NNN `). */
export interface ParsedReply {
  code: number;
  lines: string[];
}

/**
 * Parses a server's output as SMTP replies and throws on anything not
 * well formed: lines end in CRLF, start `NNN-` or `NNN ` with a 2xx-5xx
 * code shared by every line of a reply, and an enhanced code, where one is
 * present, is `class.subject.detail` of the same class (RFC 3463 §2).
 */
export function parseReplies(output: string): ParsedReply[] {
  if (output !== "" && !output.endsWith("\r\n")) throw new Error("output does not end in CRLF");
  const replies: ParsedReply[] = [];
  let open: ParsedReply | undefined;
  for (const text of output.split("\r\n").slice(0, -1)) {
    const m = /^([2-5]\d\d)([ -])(.*)$/s.exec(text);
    if (!m) throw new Error(`malformed reply line ${JSON.stringify(text)}`);
    if (/[\r\n]/.test(text)) throw new Error(`bare CR or LF in ${JSON.stringify(text)}`);
    const code = Number(m[1]);
    const rest = m[3] ?? "";
    if (open && open.code !== code) throw new Error(`code changes inside a reply: ${text}`);
    const enhanced = /^\d+\.\d+\.\d+(?=\s|$)/.exec(rest)?.[0];
    if (enhanced !== undefined) {
      if (!/^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced) || enhanced[0] !== m[1]?.[0]) {
        throw new Error(`bad enhanced code in ${JSON.stringify(text)}`);
      }
    } else if (code >= 400) {
      throw new Error(`failure reply without an enhanced code: ${JSON.stringify(text)}`);
    }
    open ??= { code, lines: [] };
    open.lines.push(rest);
    if (m[2] === " ") {
      replies.push(open);
      open = undefined;
    }
  }
  if (open) throw new Error("output ends inside a multi-line reply");
  return replies;
}
