import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DueMessage } from "../core/queue/spool.ts";
import { SqliteSpool } from "../core/queue/sqlite_spool.ts";
import { loadRuntime } from "../core/runtime/runtime.ts";
import { Directory } from "../core/store/directory.ts";
import { openDatabaseAt } from "./queue.ts";
import { parseAddressList, runSendCommand, type SendIo, separateBody, toCrlf } from "./send.ts";

const runtime = await loadRuntime();
const root = mkdtempSync(join(tmpdir(), "postino-send-"));
let count = 0;
const NOW = Date.UTC(2030, 0, 1, 12);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

after(() => rmSync(root, { recursive: true, force: true }));

/**
 * A fake SendIo over a real data dir with the users `bob@example.com` and
 * `carol@example.com`, the alias `team@example.com` (bob and a remote
 * member).
 */
async function fakeIo(stdin: string | Uint8Array = "") {
  const dataDir = join(root, String(count++));
  mkdirSync(dataDir);
  const db = runtime.openDatabase(join(dataDir, "postino.db"));
  const directory = new Directory(db);
  await directory.addUser("bob@example.com");
  await directory.addUser("carol@example.com");
  directory.addAlias("team@example.com", ["bob@example.com", "dan@far.example"]);
  db.close();
  const io = {
    out: [] as string[],
    err: [] as string[],
    dataDir,
    user: { name: "alice", uid: 1000 as number | undefined },
    stdout: (line: string) => void io.out.push(line),
    stderr: (line: string) => void io.err.push(line),
    readStdinBytes: () =>
      Promise.resolve(typeof stdin === "string" ? encoder.encode(stdin) : stdin),
    openDatabase: (dir: string) => openDatabaseAt(runtime, dir),
    now: () => NOW,
    /** Runs `postino send` against this data dir as host mail.test for example.com. */
    send: (...args: string[]) =>
      runSendCommand(
        ["--data-dir", dataDir, "--hostname", "mail.test", "--domain", "example.com", ...args],
        io,
      ),
    /** Everything queued so far, with its data. */
    queued(): DueMessage[] {
      const db = runtime.openDatabase(join(dataDir, "postino.db"));
      try {
        return new SqliteSpool(db).lease(Number.MAX_SAFE_INTEGER, 100, 1);
      } finally {
        db.close();
      }
    },
  } satisfies SendIo & Record<string, unknown>;
  return io;
}

function only(messages: DueMessage[]): DueMessage & { text: string } {
  assert.equal(messages.length, 1);
  const message = messages[0] as DueMessage;
  return { ...message, text: decoder.decode(message.data) };
}

test("parseAddressList() finds the addr-specs in address lists", () => {
  const cases: [string, string[]][] = [
    ["a@example.com", ["a@example.com"]],
    ["a@example.com, b@example.org", ["a@example.com", "b@example.org"]],
    [`"Doe, John" <john@example.com>, Jane <jane@example.com>`, [
      "john@example.com",
      "jane@example.com",
    ]],
    ["a@example.com (Alice, admin), <b@example.com>", ["a@example.com", "b@example.com"]],
    ["team: a@x.example, b@x.example;, c@y.example", ["a@x.example", "b@x.example", "c@y.example"]],
    ["undisclosed-recipients:;", []],
    [`"odd, name"@example.com`, [`"odd, name"@example.com`]],
    ["<@relay.example:a@example.com>", ["a@example.com"]],
    ["x@[IPv6:::1], y@[192.0.2.1]", ["x@[IPv6:::1]", "y@[192.0.2.1]"]],
    ["root", ["root"]],
    ["", []],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseAddressList(text), want, text);
});

test("toCrlf() turns every line ending into CRLF and ends with one", () => {
  const cases: [string, string][] = [
    ["", ""],
    ["a\nb\n", "a\r\nb\r\n"],
    ["a\r\nb\r\n", "a\r\nb\r\n"],
    ["a\rb", "a\r\nb\r\n"],
    ["a\n\r\nb\r\r\n", "a\r\n\r\nb\r\n\r\n"],
    ["no newline", "no newline\r\n"],
  ];
  for (const [input, want] of cases) {
    assert.equal(decoder.decode(toCrlf(encoder.encode(input))), want, JSON.stringify(input));
  }
});

test("separateBody() puts a blank line before the first line that is not a header", () => {
  const cases: [string, string][] = [
    ["Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n"],
    ["just text\r\n", "\r\njust text\r\n"],
    ["Subject: x\r\nbody: no\r\n", "Subject: x\r\nbody: no\r\n"],
    ["Subject: x\r\n folded\r\nplain line\r\n", "Subject: x\r\n folded\r\n\r\nplain line\r\n"],
    [" indented\r\n", "\r\n indented\r\n"],
    ["From alice Mon Jan 1 00:00:00 2030\r\nSubject: x\r\n\r\nb\r\n", "Subject: x\r\n\r\nb\r\n"],
    ["Subject: only headers\r\n", "Subject: only headers\r\n"],
    ["", ""],
  ];
  for (const [input, want] of cases) {
    assert.equal(decoder.decode(separateBody(encoder.encode(input))), want, JSON.stringify(input));
  }
});

test("runSendCommand() queues the message silently, with CRLF and the missing headers", async () => {
  const io = await fakeIo("Subject: hello\nTo: bob@example.com\n\nline 1\nline 2\n");
  assert.equal(await io.send("bob@example.com"), 0, io.err.join("\n"));
  assert.deepEqual(io.out, []);
  assert.deepEqual(io.err, []);
  const message = only(io.queued());
  assert.equal(message.sender, "alice@mail.test");
  assert.deepEqual(message.recipients.map((r) => [r.address, r.original]), [
    ["bob@example.com", "bob@example.com"],
  ]);
  assert.deepEqual(message.params, { smtputf8: false, eightBit: false });
  assert.equal(message.receivedAt, NOW);
  assert.doesNotMatch(message.text.replace(/\r\n/g, ""), /[\r\n]/, "no bare CR or LF");
  const date = "Tue, 1 Jan 2030 12:00:00 +0000";
  assert.equal(
    message.text,
    `Received: from local (uid 1000/alice)\r\n\tby mail.test (Postino) with local id ${message.id};` +
      `\r\n\t${date}\r\n` +
      "Subject: hello\r\nTo: bob@example.com\r\n" +
      `Date: ${date}\r\nMessage-ID: <${message.id}@mail.test>\r\nFrom: alice@mail.test\r\n` +
      "\r\nline 1\r\nline 2\r\n",
  );
});

test("runSendCommand() keeps the Date, Message-ID and From the message has", async () => {
  const headers = "From: Boss <boss@example.com>\r\nDate: Mon, 1 Jan 2029 00:00:00 +0000\r\n" +
    "Message-ID: <x@y>\r\n";
  const io = await fakeIo(`${headers}\r\nbody\r\n`);
  assert.equal(await io.send("-f", "boss@example.com", "bob@example.com"), 0, io.err.join("\n"));
  const message = only(io.queued());
  assert.equal(message.sender, "boss@example.com");
  assert.match(message.text, /^Received: from local .*\r\n\t.*\r\n\t.*\r\n/);
  assert.equal(
    message.text.replace(/^Received:.*\r\n\t.*\r\n\t.*\r\n/, ""),
    `${headers}\r\nbody\r\n`,
  );
});

test("runSendCommand() -f and -F set the sender and the From display name", async () => {
  const cases: [string[], string, string][] = [
    [
      ["-f", "<app@example.com>", "-F", "The App"],
      "app@example.com",
      `"The App" <app@example.com>`,
    ],
    [["-r", "app@example.com"], "app@example.com", "app@example.com"],
    [["-fdaemon", "-F", `Say "hi"`], "daemon@mail.test", `"Say \\"hi\\"" <daemon@mail.test>`],
    [["-F", "Zoë"], "alice@mail.test", "=?UTF-8?B?Wm/Dqw==?= <alice@mail.test>"],
    [["-f", "<>"], "", "MAILER-DAEMON@mail.test"],
  ];
  for (const [flags, sender, from] of cases) {
    const io = await fakeIo("Subject: x\n\nbody\n");
    assert.equal(await io.send(...flags, "bob@example.com"), 0, io.err.join("\n"));
    const message = only(io.queued());
    assert.equal(message.sender, sender, flags.join(" "));
    assert.match(message.text, new RegExp(`\r\nFrom: ${from.replace(/[?\\+]/g, "\\$&")}\r\n`));
  }
});

test("runSendCommand() -t reads To, Cc and Bcc, adds the arguments, and drops Bcc", async () => {
  const io = await fakeIo(
    "To: Bob <bob@example.com>, x@far.example\nCc: team@example.com\nBcc: carol@example.com\n" +
      "Subject: t\n\nbody\n",
  );
  assert.equal(await io.send("-t", "postmaster"), 0, io.err.join("\n"));
  const message = only(io.queued());
  assert.deepEqual(message.recipients.map((r) => [r.address, r.original]), [
    ["postmaster@example.com", "postmaster@example.com"],
    ["bob@example.com", "bob@example.com"],
    ["x@far.example", "x@far.example"],
    // The alias expands to its members; bob is there once only.
    ["dan@far.example", "team@example.com"],
    ["carol@example.com", "carol@example.com"],
  ]);
  assert.doesNotMatch(message.text, /Bcc|carol/i);
  assert.match(message.text, /\r\nTo: Bob <bob@example.com>, x@far.example\r\n/);
});

test("runSendCommand() queues remote recipients as they are, and qualifies bare names", async () => {
  const io = await fakeIo("hi\n");
  assert.equal(await io.send("Someone <Them@Far.Example>", "bob"), 0, io.err.join("\n"));
  const message = only(io.queued());
  assert.deepEqual(message.recipients.map((r) => r.address), [
    "Them@far.example",
    "bob@example.com",
  ]);
  assert.match(message.text, /\r\n\r\nhi\r\n$/, "text with no headers becomes the body");
});

test("runSendCommand() fails with exit 1 and queues nothing for an unknown local user", async () => {
  const io = await fakeIo("Subject: x\n\nbody\n");
  assert.equal(await io.send("bob@example.com", "nobody@example.com", "x@far.example"), 1);
  assert.deepEqual(io.err, ["postino send: no such user: nobody@example.com"]);
  assert.deepEqual(io.queued(), []);
});

test("runSendCommand() exits 2 for a bad address or no recipients", async () => {
  const cases: [string[], RegExp][] = [
    [["bad address@example.com"], /bad recipient address: bad address@example.com/],
    [["a@b@@"], /bad recipient address/],
    [["-f", "not an address", "bob@example.com"], /bad sender address: not an address/],
    [[], /no recipients/],
    [["-t"], /no recipients/],
    [["-bp"], /-bp is not supported/],
    [["-N", "sometimes", "bob@example.com"], /bad -N value/],
    [["-R", "body", "bob@example.com"], /bad -R value/],
    [["--frobnicate", "bob@example.com"], /frobnicate/],
  ];
  for (const [args, pattern] of cases) {
    const io = await fakeIo("Subject: x\n\nbody\n");
    assert.equal(await io.send(...args), 2, args.join(" "));
    assert.match(io.err.join("\n"), pattern, args.join(" "));
    assert.deepEqual(io.queued(), []);
  }
});

test("runSendCommand() accepts and ignores sendmail's harmless flags", async () => {
  const io = await fakeIo("Subject: cron\n\n.\nafter the dot\n");
  const flags = [
    "-i",
    "-oi",
    "-odi",
    "-oem",
    "-bm",
    "-B8BITMIME",
    "-U",
    "-G",
    "-OQueueDirectory=x",
  ];
  assert.equal(await io.send(...flags, "-FCronDaemon", "bob@example.com"), 0, io.err.join("\n"));
  const message = only(io.queued());
  assert.match(message.text, /\r\n\r\n\.\r\nafter the dot\r\n$/, "a lone dot does not end input");
  assert.equal(message.params.eightBit, true, "-B8BITMIME is kept");
});

test("runSendCommand() sets smtputf8 and eightBit from the addresses and the data", async () => {
  const latin1 = new Uint8Array([...encoder.encode("Subject: x\n\ncaf"), 0xe9, 10]);
  const cases: [string | Uint8Array, string[], { smtputf8: boolean; eightBit: boolean }][] = [
    ["Subject: x\n\nascii\n", ["bob@example.com"], { smtputf8: false, eightBit: false }],
    ["Subject: x\n\ncafé\n", ["bob@example.com"], { smtputf8: false, eightBit: true }],
    [latin1, ["bob@example.com"], { smtputf8: false, eightBit: true }],
    ["Subject: x\n\nascii\n", ["josé@far.example"], { smtputf8: true, eightBit: false }],
  ];
  for (const [stdin, args, want] of cases) {
    const io = await fakeIo(stdin);
    assert.equal(await io.send(...args), 0, io.err.join("\n"));
    const message = only(io.queued());
    assert.deepEqual(message.params, want, args.join(" "));
    if (stdin instanceof Uint8Array) {
      assert.deepEqual([...message.data.subarray(-3)], [0xe9, 13, 10], "bytes are kept as sent");
    }
  }
});

test("runSendCommand() passes -N, -R and -V on as DSN parameters", async () => {
  const io = await fakeIo("Subject: x\n\nbody\n");
  assert.equal(
    await io.send("-N", "success,delay", "-R", "hdrs", "-V", "env-1", "x@far.example"),
    0,
    io.err.join("\n"),
  );
  const message = only(io.queued());
  assert.deepEqual(message.params, {
    smtputf8: false,
    eightBit: false,
    ret: "HDRS",
    envid: "env-1",
  });
  assert.deepEqual(message.recipients[0]?.notify, ["SUCCESS", "DELAY"]);
});

test("runSendCommand() -v prints the queue id", async () => {
  const io = await fakeIo("Subject: x\n\nbody\n");
  assert.equal(await io.send("-v", "bob@example.com"), 0);
  assert.deepEqual(io.out, [only(io.queued()).id]);
});

test("runSendCommand() takes domains, host name and size limit from --config", async () => {
  const io = await fakeIo("Subject: x\n\nbody\n");
  const file = join(io.dataDir, "postino.toml");
  writeFileSync(
    file,
    `hostname = "mx.example.com"\ndomains = ["example.com"]\ndata_dir = ${
      JSON.stringify(io.dataDir)
    }\nmax_message_size = 400\n`,
  );
  assert.equal(await runSendCommand(["--config", file, "bob"], io), 0, io.err.join("\n"));
  const message = only(io.queued());
  assert.equal(message.sender, "alice@mx.example.com");
  assert.deepEqual(message.recipients.map((r) => r.address), ["bob@example.com"]);

  const big = await fakeIo(`Subject: x\n\n${"x".repeat(500)}\n`);
  assert.equal(await runSendCommand(["--config", file, "bob"], big), 1);
  assert.match(big.err[0] ?? "", /message too big/);
});

test("runSendCommand() falls back to postmaster when the login name is unusable", async () => {
  const io = await fakeIo("Subject: x\n\nbody\n");
  io.user = { name: "", uid: undefined };
  assert.equal(await io.send("bob@example.com"), 0, io.err.join("\n"));
  const message = only(io.queued());
  assert.equal(message.sender, "postmaster@example.com");
  assert.match(message.text, /^Received: from local \(unknown\)\r\n/);
});

test("runSendCommand() exits 1 when there is no database", async () => {
  const io = await fakeIo("Subject: x\n\nbody\n");
  const missing = join(root, "missing");
  assert.equal(await runSendCommand(["--data-dir", missing, "x@far.example"], io), 1);
  assert.match(io.err[0] ?? "", /no database at/);
});

test("runSendCommand() --help prints the usage", async () => {
  const io = await fakeIo();
  assert.equal(await runSendCommand(["--help"], io), 0);
  assert.match(io.out.join("\n"), /^Usage: postino send \[options\] \[RECIPIENT\.\.\.\]/);
});
