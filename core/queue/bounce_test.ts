import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { buildDsn, chooseBoundary, type DsnInput, type DsnRecipient } from "./bounce.ts";

const encoder = new TextEncoder();
const ARRIVAL = new Date(Date.UTC(2024, 0, 5, 3, 4, 5));
const NOW = new Date(Date.UTC(2024, 0, 5, 3, 9, 0));
const UNTIL = new Date(Date.UTC(2024, 0, 10, 3, 4, 5));
const HEADERS = "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\n" +
  "Subject: Lunch\r\nMessage-ID: <m1@example.org>\r\n";
const ORIGINAL = encoder.encode(`${HEADERS}\r\nShall we have lunch?\r\n`);

const BOB_FAILED: DsnRecipient = {
  address: "bob@example.com",
  action: "failed",
  status: "5.1.1",
  remote: { mta: "mx.example.com", code: 550, text: "5.1.1 <bob@example.com>: user unknown" },
  lastAttempt: NOW,
};
const CAROL_DELAYED: DsnRecipient = {
  address: "carol@example.net",
  action: "delayed",
  status: "4.4.1",
  diagnostic: "Connection timed out",
  lastAttempt: NOW,
  willRetryUntil: UNTIL,
};

function input(overrides: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: "mx.example.org",
    queueId: "Q1a2b3c",
    arrivalDate: ARRIVAL,
    originalSender: "alice@example.org",
    ret: "HDRS",
    recipients: [BOB_FAILED],
    original: ORIGINAL,
    date: NOW,
    messageId: "<Q1a2b3c.bounce@mx.example.org>",
    ...overrides,
  };
}

/** Bytes as a string of one char per octet, so byte-exact comparisons are easy. */
function binary(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}

interface Mime {
  head: string;
  parts: { head: string; body: string }[];
}

/** A small multipart splitter (RFC 2046 §5.1.1): enough to check our own output. */
function splitMime(bytes: Uint8Array): Mime {
  const text = binary(bytes);
  const end = text.indexOf("\r\n\r\n");
  const head = text.slice(0, end + 2);
  const boundary = /boundary="([^"]+)"/.exec(head.replace(/\r\n[ \t]/g, " "))?.[1];
  assert.ok(boundary, head);
  const body = text.slice(end + 4);
  const close = body.indexOf(`\r\n--${boundary}--\r\n`);
  assert.ok(close !== -1, "closing delimiter");
  assert.ok(body.endsWith(`\r\n--${boundary}--\r\n`));
  const parts = body.slice(0, close).split(`\r\n--${boundary}\r\n`).slice(1).map((part) => {
    const split = part.indexOf("\r\n\r\n");
    return { head: part.slice(0, split + 2), body: part.slice(split + 4) };
  });
  return { head, parts };
}

const PYTHON = `
import sys, json, email, email.policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
parts = m.get_payload()
def info(p):
    d = {"type": p.get_content_type(), "cte": p.get("content-transfer-encoding"),
         "defects": [type(x).__name__ for x in p.defects]}
    if p.get_content_type() == "message/delivery-status":
        d["groups"] = [{k: str(v) for k, v in g.items()} for g in p.get_payload()]
    elif p.get_content_type() == "message/rfc822":
        inner = p.get_payload()[0]
        d["subject"] = str(inner["subject"])
        d["body"] = inner.get_payload(decode=True).decode("utf-8", "replace")
    else:
        d["text"] = p.get_payload(decode=True).decode("utf-8", "replace")
    return d
print(json.dumps({
    "type": m.get_content_type(), "reportType": m.get_param("report-type"),
    "multipart": m.is_multipart(), "from": str(m["from"]), "to": str(m["to"]),
    "subject": str(m["subject"]), "autoSubmitted": str(m["auto-submitted"]),
    "defects": [type(x).__name__ for x in m.defects], "parts": [info(p) for p in parts],
}))
`;

interface PyPart {
  type: string;
  cte: string | null;
  defects: string[];
  groups?: Record<string, string>[];
  subject?: string;
  body?: string;
  text?: string;
}
interface PyReport {
  type: string;
  reportType: string;
  multipart: boolean;
  from: string;
  to: string;
  subject: string;
  autoSubmitted: string;
  defects: string[];
  parts: PyPart[];
}

/** Parses the report with Python's `email` package, an independent MIME parser. */
function python(bytes: Uint8Array): Promise<PyReport> {
  return new Promise((resolve, reject) => {
    const child = execFile("python3", ["-c", PYTHON], (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as PyReport);
    });
    child.stdin?.end(bytes);
  });
}

function assertWellFormed(bytes: Uint8Array): void {
  const text = binary(bytes);
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(text), "CRLF line endings only");
  for (const line of text.split("\r\n")) assert.ok(line.length <= 998, `line of ${line.length}`);
}

interface Case {
  name: string;
  input: DsnInput;
  subject: string;
  /** The exact message/delivery-status body. */
  status: string;
  third: "text/rfc822-headers" | "message/rfc822";
  eightBit?: boolean;
  /** Words the human-readable part must contain. */
  says: string[];
}

const PER_MESSAGE = "Reporting-MTA: dns; mx.example.org\r\n" +
  "Arrival-Date: Fri, 5 Jan 2024 03:04:05 +0000\r\n" +
  "X-Postino-Queue-ID: Q1a2b3c\r\n";
const BOB_FIELDS = "Final-Recipient: rfc822; bob@example.com\r\n" +
  "Action: failed\r\n" +
  "Status: 5.1.1\r\n" +
  "Remote-MTA: dns; mx.example.com\r\n" +
  "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: user unknown\r\n" +
  "Last-Attempt-Date: Fri, 5 Jan 2024 03:09:00 +0000\r\n";

const BIG = encoder.encode(`${HEADERS}\r\n${"x".repeat(70)}\r\n`.repeat(1) + "y\r\n".repeat(600));
const EIGHT_BIT = encoder.encode(
  `${HEADERS}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n` +
    "\r\nGrüße aus Köln\r\n",
);

const CASES: Case[] = [
  {
    name: "single failed recipient",
    input: input(),
    subject: "Undelivered Mail Returned to Sender",
    status: `${PER_MESSAGE}\r\n${BOB_FIELDS}`,
    third: "text/rfc822-headers",
    says: [
      "could not be delivered",
      "<bob@example.com>",
      "The server mx.example.com said:",
      "550 5.1.1 <bob@example.com>: user unknown",
      "What to do:",
      "The header section of your message is attached.",
    ],
  },
  {
    name: "failed and delayed recipients",
    input: input({ recipients: [BOB_FAILED, CAROL_DELAYED] }),
    subject: "Undelivered Mail Returned to Sender",
    status: `${PER_MESSAGE}\r\n${BOB_FIELDS}\r\n` +
      "Final-Recipient: rfc822; carol@example.net\r\n" +
      "Action: delayed\r\n" +
      "Status: 4.4.1\r\n" +
      "Diagnostic-Code: X-Postino; Connection timed out\r\n" +
      "Last-Attempt-Date: Fri, 5 Jan 2024 03:09:00 +0000\r\n" +
      "Will-Retry-Until: Wed, 10 Jan 2024 03:04:05 +0000\r\n",
    third: "text/rfc822-headers",
    says: ["gave up", "is delayed", "Connection timed out", "until Wed, 10 Jan 2024", "need not"],
  },
  {
    name: "delayed only",
    input: input({ recipients: [CAROL_DELAYED] }),
    subject: "Delayed Mail (still being retried)",
    status: `${PER_MESSAGE}\r\n` +
      "Final-Recipient: rfc822; carol@example.net\r\nAction: delayed\r\nStatus: 4.4.1\r\n" +
      "Diagnostic-Code: X-Postino; Connection timed out\r\n" +
      "Last-Attempt-Date: Fri, 5 Jan 2024 03:09:00 +0000\r\n" +
      "Will-Retry-Until: Wed, 10 Jan 2024 03:04:05 +0000\r\n",
    third: "text/rfc822-headers",
    says: ["is delayed", "still trying"],
  },
  {
    name: "delivered (NOTIFY=SUCCESS)",
    input: input({
      recipients: [{
        address: "bob@example.com",
        action: "delivered",
        status: "2.0.0",
        remote: { mta: "mx.example.com", code: 250, text: "2.0.0 Ok: queued as 4Xyz" },
        lastAttempt: NOW,
        willRetryUntil: UNTIL, // ignored: only delayed recipients have one
      }],
    }),
    subject: "Successful Mail Delivery Report",
    status: `${PER_MESSAGE}\r\n` +
      "Final-Recipient: rfc822; bob@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n" +
      "Remote-MTA: dns; mx.example.com\r\n" +
      "Diagnostic-Code: smtp; 250 2.0.0 Ok: queued as 4Xyz\r\n" +
      "Last-Attempt-Date: Fri, 5 Jan 2024 03:09:00 +0000\r\n",
    third: "text/rfc822-headers",
    says: ["was delivered to these recipients"],
  },
  {
    name: "ORCPT present",
    input: input({
      recipients: [{
        address: "bob@example.com",
        orcpt: { type: "rfc822", address: "info@example.com" },
        action: "failed",
        status: "5.2.2",
        diagnostic: "Mailbox full",
      }],
    }),
    subject: "Undelivered Mail Returned to Sender",
    status: `${PER_MESSAGE}\r\n` +
      "Original-Recipient: rfc822;info@example.com\r\n" +
      "Final-Recipient: rfc822; bob@example.com\r\nAction: failed\r\nStatus: 5.2.2\r\n" +
      "Diagnostic-Code: X-Postino; Mailbox full\r\n",
    third: "text/rfc822-headers",
    says: ["<bob@example.com> (sent to info@example.com)", "Mailbox full"],
  },
  {
    name: "ENVID present",
    input: input({ envid: "QQ314159" }),
    subject: "Undelivered Mail Returned to Sender",
    status: `Original-Envelope-Id: QQ314159\r\n${PER_MESSAGE}\r\n${BOB_FIELDS}`,
    third: "text/rfc822-headers",
    says: ["could not be delivered"],
  },
  {
    name: "RET=FULL",
    input: input({ ret: "FULL" }),
    subject: "Undelivered Mail Returned to Sender",
    status: `${PER_MESSAGE}\r\n${BOB_FIELDS}`,
    third: "message/rfc822",
    says: ["Your message is attached."],
  },
  {
    name: "RET=FULL on a delay report returns headers only (RFC 3461 §4.3)",
    input: input({ ret: "FULL", recipients: [CAROL_DELAYED] }),
    subject: "Delayed Mail (still being retried)",
    status: `${PER_MESSAGE}\r\n` +
      "Final-Recipient: rfc822; carol@example.net\r\nAction: delayed\r\nStatus: 4.4.1\r\n" +
      "Diagnostic-Code: X-Postino; Connection timed out\r\n" +
      "Last-Attempt-Date: Fri, 5 Jan 2024 03:09:00 +0000\r\n" +
      "Will-Retry-Until: Wed, 10 Jan 2024 03:04:05 +0000\r\n",
    third: "text/rfc822-headers",
    says: ["The header section of your message is attached."],
  },
  {
    name: "RET=FULL with a big original falls back to headers",
    input: input({ ret: "FULL", original: BIG, maxReturnSize: 1000 }),
    subject: "Undelivered Mail Returned to Sender",
    status: `${PER_MESSAGE}\r\n${BOB_FIELDS}`,
    third: "text/rfc822-headers",
    says: ["The header section of your message is attached.", "larger than the 1000-octet limit"],
  },
  {
    name: "RET=FULL with an 8-bit original",
    input: input({ ret: "FULL", original: EIGHT_BIT }),
    subject: "Undelivered Mail Returned to Sender",
    status: `${PER_MESSAGE}\r\n${BOB_FIELDS}`,
    third: "message/rfc822",
    eightBit: true,
    says: ["Your message is attached."],
  },
  {
    name: "RET=HDRS with an 8-bit original body stays 7-bit",
    input: input({ original: EIGHT_BIT }),
    subject: "Undelivered Mail Returned to Sender",
    status: `${PER_MESSAGE}\r\n${BOB_FIELDS}`,
    third: "text/rfc822-headers",
    says: ["header section"],
  },
];

for (const c of CASES) {
  test(`buildDsn() ${c.name}: headers, parts and delivery-status bytes`, async () => {
    const { bytes, eightBit } = buildDsn(c.input);
    assertWellFormed(bytes);
    assert.equal(eightBit, c.eightBit ?? false);
    assert.equal(bytes.some((b) => b > 127), eightBit);
    const mime = splitMime(bytes);
    assert.match(
      mime.head,
      new RegExp(
        "^From: Mail Delivery System <MAILER-DAEMON@mx\\.example\\.org>\r\n" +
          "To: <alice@example\\.org>\r\n" +
          `Subject: ${c.subject.replace(/[()]/g, "\\$&")}\r\n` +
          "Date: Fri, 5 Jan 2024 03:09:00 \\+0000\r\n" +
          "Message-ID: <Q1a2b3c\\.bounce@mx\\.example\\.org>\r\n" +
          "Auto-Submitted: auto-replied\r\n" +
          "MIME-Version: 1\\.0\r\n" +
          "Content-Type: multipart/report; report-type=delivery-status;\r\n" +
          ' boundary="=_Q1a2b3c\\.[0-9a-f]{16}"\r\n' +
          `Content-Transfer-Encoding: ${eightBit ? "8bit" : "7bit"}\r\n$`,
      ),
    );
    assert.equal(mime.parts.length, 3);
    const [text, status, third] = mime.parts;
    assert.match(text?.head ?? "", /Content-Type: text\/plain; charset=utf-8\r\n/);
    assert.match(status?.head ?? "", /Content-Type: message\/delivery-status\r\n/);
    assert.equal(status?.body, c.status);
    assert.match(third?.head ?? "", new RegExp(`Content-Type: ${c.third}\r\n`));
    const unfolded = text?.body.replace(/\r\n */g, " ") ?? "";
    for (const words of c.says) assert.ok(unfolded.includes(words), `${words} in ${unfolded}`);
    const original = binary(c.input.original);
    if (c.third === "message/rfc822") assert.equal(third?.body, original);
    else assert.equal(third?.body, original.slice(0, original.indexOf("\r\n\r\n") + 2));

    const py = await python(bytes);
    assert.equal(py.type, "multipart/report");
    assert.equal(py.reportType, "delivery-status");
    assert.equal(py.subject, c.subject);
    assert.equal(py.from, "Mail Delivery System <MAILER-DAEMON@mx.example.org>");
    assert.equal(py.autoSubmitted, "auto-replied");
    assert.deepEqual(py.parts.map((p) => p.type), [
      "text/plain",
      "message/delivery-status",
      c.third,
    ]);
    assert.deepEqual([py.defects, ...py.parts.map((p) => p.defects)].flat(), []);
    const groups = py.parts[1]?.groups ?? [];
    assert.equal(groups.length, 1 + c.input.recipients.length);
    assert.equal(groups[0]?.["Reporting-MTA"], "dns; mx.example.org");
    c.input.recipients.forEach((r, i) => {
      assert.equal(groups[i + 1]?.["Final-Recipient"], `rfc822; ${r.address}`);
      assert.equal(groups[i + 1]?.["Action"], r.action);
      assert.equal(groups[i + 1]?.["Status"], r.status);
    });
    if (c.third === "message/rfc822") {
      assert.equal(py.parts[2]?.subject, "Lunch");
      assert.equal(py.parts[2]?.cte, eightBit ? "8bit" : "7bit");
    }
  });
}

test("buildDsn() throws RangeError for an empty sender: never bounce to <>", () => {
  assert.throws(() => buildDsn(input({ originalSender: "" })), RangeError);
});

test("buildDsn() throws RangeError on misuse", () => {
  assert.throws(() => buildDsn(input({ recipients: [] })), RangeError);
  assert.throws(() => buildDsn(input({ originalSender: "a@b\r\nBcc: x@y" })), RangeError);
  assert.throws(
    () => buildDsn(input({ recipients: [{ ...BOB_FAILED, status: "550" }] })),
    RangeError,
  );
  assert.throws(() => buildDsn(input({ messageId: "no-brackets@x" })), RangeError);
  assert.throws(() => buildDsn(input({ date: new Date(NaN) })), RangeError);
});

test("buildDsn() joins and sanitises a multi-line remote reply", () => {
  const reply =
    "5.7.1 Message rejected\r\n550-5.7.1 see https://example.com/why\n550 5.7.1 \x1b[31mbye\x00 é";
  const { bytes } = buildDsn(input({
    recipients: [{
      ...BOB_FAILED,
      status: "5.7.1",
      remote: { mta: "mx\r\n.example.com", code: 550, text: reply },
    }],
  }));
  const status = splitMime(bytes).parts[1]?.body ?? "";
  assert.ok(
    status.includes(
      "Remote-MTA: dns; mx .example.com\r\n" +
        "Diagnostic-Code: smtp; 550 5.7.1 Message rejected 5.7.1 see\r\n" +
        " https://example.com/why 5.7.1 [31mbye ?\r\n",
    ),
    status,
  );
});

test("buildDsn() folds a long diagnostic under 998 octets and caps it", async () => {
  const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(" ");
  const token = "z".repeat(3000);
  const { bytes } = buildDsn(input({
    recipients: [
      { ...BOB_FAILED, remote: { mta: "mx.example.com", code: 550, text: `5.1.1 ${words}` } },
      { ...BOB_FAILED, address: "c@example.com", remote: { mta: "m", code: 550, text: token } },
    ],
  }));
  assertWellFormed(bytes);
  const status = splitMime(bytes).parts[1]?.body ?? "";
  const lines = status.split("\r\n");
  assert.ok(lines.some((l) => l.startsWith(" ") && l.includes("word")), "continuation lines");
  assert.ok(lines.every((l) => l.length <= 900));
  const py = await python(bytes);
  const diagnostic = py.parts[1]?.groups?.[1]?.["Diagnostic-Code"] ?? "";
  assert.ok(diagnostic.startsWith("smtp; 550 5.1.1 word0 word1 "), diagnostic);
  assert.ok(diagnostic.endsWith("..."), diagnostic);
  assert.ok(diagnostic.length < 820, `${diagnostic.length}`);
});

test("buildDsn() writes a UTF-8 recipient as an RFC 6533 utf-8 address and stays 7-bit", async () => {
  const { bytes, eightBit } = buildDsn(input({
    recipients: [{
      ...BOB_FAILED,
      address: "jürgen@example.de",
      orcpt: { type: "rfc822", address: "a+b=c@example.de" },
    }],
  }));
  assert.equal(eightBit, false);
  const mime = splitMime(bytes);
  assert.ok(
    mime.parts[1]?.body.includes(
      "Original-Recipient: rfc822;a+b=c@example.de\r\n" +
        "Final-Recipient: utf-8; j\\x{FC}rgen@example.de\r\n",
    ),
    mime.parts[1]?.body,
  );
  assert.match(mime.parts[0]?.head ?? "", /Content-Transfer-Encoding: quoted-printable\r\n/);
  const py = await python(bytes);
  assert.ok(py.parts[0]?.text?.includes("<jürgen@example.de>"), py.parts[0]?.text);
});

test("buildDsn() normalises bare LF and returns over-long header lines as quoted-printable", async () => {
  const long = `X-Long: ${"a".repeat(1500)}`;
  const original = encoder.encode(`Subject: Hi\n${long}\n\nbody\n`);
  const { bytes, eightBit } = buildDsn(input({ ret: "FULL", original }));
  assertWellFormed(bytes);
  assert.equal(eightBit, false);
  const mime = splitMime(bytes);
  assert.match(
    mime.parts[2]?.head ?? "",
    /text\/rfc822-headers\r\nContent-Transfer-Encoding: quoted-printable/,
  );
  assert.ok(mime.parts[0]?.body.replace(/\r\n/g, " ").includes("cannot be returned unchanged"));
  const py = await python(bytes);
  assert.equal(py.parts[2]?.text, `Subject: Hi\r\n${long}\r\n`);
});

test("buildDsn() marks 8-bit header sections 8bit under RET=HDRS", () => {
  const original = encoder.encode("Subject: Grüße\r\n\r\nHallo\r\n");
  const { bytes, eightBit } = buildDsn(input({ original }));
  assert.equal(eightBit, true);
  const mime = splitMime(bytes);
  assert.match(mime.parts[2]?.head ?? "", /Content-Transfer-Encoding: 8bit\r\n/);
  assert.match(mime.head, /Content-Transfer-Encoding: 8bit\r\n$/);
});

test("chooseBoundary() skips a candidate that occurs in the content", () => {
  const tokens = ["aaaa", "bbbb"];
  const content = encoder.encode("text --=_Q1.aaaa text");
  assert.equal(chooseBoundary("Q1", [content], () => tokens.shift() ?? "x"), "=_Q1.bbbb");
});

test("buildDsn() boundary never occurs in the original", () => {
  for (let i = 0; i < 20; i++) {
    const { bytes } = buildDsn(input({ ret: "FULL" }));
    const boundary = /boundary="([^"]+)"/.exec(binary(bytes))?.[1] ?? "";
    assert.equal(binary(bytes).split(boundary).length, 6); // header, 3 openings, the close
  }
});
