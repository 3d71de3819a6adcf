/**
 * The `postino` command line, run as a user runs it: version and help,
 * users and aliases (also against a server that is already running),
 * password storage, `check-config` and `--listen` validation.
 *
 * @module
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gitCommit } from "../cli/version.ts";
import { postino, ROOT, type RunningServer, startServer, tempDir } from "./helpers/server.ts";
import { RawClient, transcript } from "./helpers/smtp_client.ts";

const TIMEOUT = { timeout: 60_000 };
const dirs: string[] = [];

/** A fresh data directory, removed when the file's tests end. */
function dataDir(): string {
  const dir = tempDir("postino-cli-wire-");
  dirs.push(dir);
  return dir;
}

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs postino and fails with its output unless it exits with `code`. */
async function expectExit(args: string[], code: number, stdin?: string) {
  const result = await postino(args, stdin === undefined ? {} : { stdin });
  assert.equal(
    result.code,
    code,
    `postino ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`,
  );
  return result;
}

/**
 * The files in the `new/` folder of `address`'s Maildir, once every message
 * `server` queued so far has had its delivery attempt (delivery runs from the
 * spool after the 250 reply).
 */
async function storedFiles(server: RunningServer, address: string): Promise<string[]> {
  await server.settled();
  const at = address.lastIndexOf("@");
  const folder = join(server.dataDir, "mail", address.slice(at + 1), address.slice(0, at), "new");
  return existsSync(folder) ? readdirSync(folder).map((name) => join(folder, name)) : [];
}

/** Sends one message over a raw connection; returns the 250 reply line. */
async function sendMessage(port: number, from: string, to: string[], body: string) {
  const client = await RawClient.connect(port);
  try {
    const expect = async (prefix: string) => {
      const reply = await client.reply();
      const last = reply[reply.length - 1] as string;
      assert.ok(last.startsWith(prefix), `expected ${prefix}, got ${JSON.stringify(reply)}`);
      return last;
    };
    await expect("220");
    await client.send("EHLO localhost");
    await expect("250");
    await client.send(`MAIL FROM:<${from}>`);
    await expect("250 2.1.0");
    for (const rcpt of to) {
      await client.send(`RCPT TO:<${rcpt}>`);
      await expect("250 2.1.5");
    }
    await client.send("DATA");
    await expect("354");
    await client.write(body + ".\r\n");
    const queued = await expect("250 2.0.0");
    await client.send("QUIT");
    await expect("221");
    return queued;
  } finally {
    client.close();
  }
}

test(
  "postino version prints the version, the runtime and the commit and exits 0",
  TIMEOUT,
  async () => {
    const result = await expectExit(["version"], 0);
    // From source the commit comes from this checkout's .git.
    const commit = gitCommit(ROOT) ?? "unknown";
    assert.match(result.stdout, /^postino \d+\.\d+\.\d+ \((deno|bun), commit \S+\)\n$/);
    assert.ok(result.stdout.endsWith(`, commit ${commit})\n`), result.stdout);
  },
);

test("postino COMMAND --help prints usage and exits 0 for every command", TIMEOUT, async () => {
  const commands = [
    ["--help"],
    ["serve", "--help"],
    ["check-config", "--help"],
    ["version", "--help"],
    ["user", "--help"],
    ["user", "add", "--help"],
    ["user", "list", "--help"],
    ["user", "remove", "--help"],
    ["alias", "--help"],
    ["alias", "add", "--help"],
    ["alias", "list", "--help"],
    ["alias", "remove", "--help"],
  ];
  const results = await Promise.all(commands.map((args) => expectExit(args, 0)));
  for (const [i, result] of results.entries()) {
    assert.match(result.stdout, /Usage:/, `postino ${commands[i]?.join(" ")}`);
  }
});

test("postino with an unknown command exits 2 and names the command", TIMEOUT, async () => {
  const result = await expectExit(["frobnicate"], 2);
  assert.match(result.stderr, /unknown command "frobnicate"/);
});

test("postino user add then user list shows the new user", TIMEOUT, async () => {
  const dir = dataDir();
  await expectExit(["user", "add", "Dana@LocalHost", "--data-dir", dir], 0);
  const list = await expectExit(["user", "list", "--data-dir", dir], 0);
  assert.match(list.stdout, /^dana@localhost\b/m);
});

test("postino alias add with local members then alias list shows them", TIMEOUT, async () => {
  const dir = dataDir();
  await expectExit(["user", "add", "erin@localhost", "--data-dir", dir], 0);
  await expectExit(["alias", "add", "sales@localhost", "erin@localhost", "--data-dir", dir], 0);
  const list = await expectExit(["alias", "list", "--data-dir", dir], 0);
  assert.match(list.stdout, /^sales@localhost -> erin@localhost$/m);
});

test("user add stores the password as a scrypt hash and never in plain text", TIMEOUT, async () => {
  const dir = dataDir();
  const password = "correct-horse-battery-staple-42";
  await expectExit(
    ["user", "add", "frank@localhost", "--password-stdin", "--data-dir", dir],
    0,
    `${password}\n`,
  );
  // With WAL the row may still sit in postino.db-wal, so read every file.
  const bytes = readdirSync(dir)
    .filter((name) => name.startsWith("postino.db"))
    .map((name) => readFileSync(join(dir, name)).toString("latin1"))
    .join("");
  assert.ok(bytes.includes("scrypt$"), "no scrypt hash in the database files");
  assert.ok(!bytes.includes(password), "the plain password is in the database files");
});

test(
  "a running server accepts mail for a user added afterwards and refuses it after user remove",
  TIMEOUT,
  async () => {
    const server = await startServer({ users: ["alice@localhost"] });
    dirs.push(server.dataDir);
    try {
      const rcptTo = (address: string, want: string) =>
        transcript(
          server.port,
          `
        S: 220
        C: EHLO localhost
        S: 250
        C: MAIL FROM:<alice@localhost>
        S: 250 2.1.0
        C: RCPT TO:<${address}>
        S: ${want}
        C: QUIT
        S: 221
      `,
        ).then((client) => client.close());

      await rcptTo("gina@localhost", "550 5.1.1");
      await expectExit(["user", "add", "gina@localhost", "--data-dir", server.dataDir], 0);
      await rcptTo("gina@localhost", "250 2.1.5");
      await sendMessage(
        server.port,
        "alice@localhost",
        ["gina@localhost"],
        "Subject: hi\r\n\r\nhi\r\n",
      );
      assert.equal((await storedFiles(server, "gina@localhost")).length, 1);

      await expectExit(["user", "remove", "gina@localhost", "--data-dir", server.dataDir], 0);
      await rcptTo("gina@localhost", "550 5.1.1");
    } finally {
      assert.equal(await server.stop(), 0);
    }
  },
);

test(
  "an alias that expands to two local users delivers exactly one copy to each",
  TIMEOUT,
  async () => {
    const server = await startServer({ users: ["hana@localhost", "ivan@localhost"] });
    dirs.push(server.dataDir);
    try {
      const alias = ["alias", "add", "team@localhost", "hana@localhost", "ivan@localhost"];
      await expectExit([...alias, "--data-dir", server.dataDir], 0);
      const body = "Subject: to the team\r\n\r\nhello team\r\n";
      // Naming a member directly as well must not make a second copy for her.
      const queued = await sendMessage(
        server.port,
        "boss@localhost",
        ["team@localhost", "hana@localhost"],
        body,
      );
      const queueId = /queued as (\S+)/.exec(queued)?.[1];
      for (const member of ["hana@localhost", "ivan@localhost"]) {
        const files = await storedFiles(server, member);
        assert.equal(files.length, 1, `copies for ${member}`);
        const text = readFileSync(files[0] as string, "latin1");
        assert.ok(text.startsWith(`Return-Path: <boss@localhost>\r\nDelivered-To: ${member}\r\n`));
        assert.ok(text.endsWith(`\r\n${body}`), `stored copy for ${member}: ${text}`);
        assert.match(text, new RegExp(`\\bid ${queueId};`));
      }
    } finally {
      assert.equal(await server.stop(), 0);
    }
  },
);

test(
  "an alias with a remote member is accepted at RCPT and its local member gets one copy",
  TIMEOUT,
  async () => {
    // Remote members are forwarded through the outgoing queue, so RCPT no
    // longer refuses the alias. There is no remote server here: the
    // forwarded copy is deferred or failed, which this test does not judge.
    const server = await startServer({ users: ["jack@localhost"] });
    dirs.push(server.dataDir);
    try {
      const alias = ["alias", "add", "fwd@localhost", "jack@localhost", "jack@example.org"];
      await expectExit([...alias, "--data-dir", server.dataDir], 0);
      const body = "Subject: forwarded\r\n\r\nhello jack\r\n";
      // Naming the local member directly as well must not make a second copy.
      const queued = await sendMessage(
        server.port,
        "someone@localhost",
        ["fwd@localhost", "jack@localhost"],
        body,
      );
      const queueId = /queued as (\S+)/.exec(queued)?.[1];
      assert.ok(queueId, queued);
      assert.doesNotMatch(server.output(), /reject conn=\S+ id=\S+ stage=rcpt/);
      const files = await storedFiles(server, "jack@localhost");
      assert.equal(files.length, 1, "copies for jack@localhost");
      const text = readFileSync(files[0] as string, "latin1");
      assert.ok(
        text.startsWith("Return-Path: <someone@localhost>\r\nDelivered-To: jack@localhost\r\n"),
        text,
      );
      assert.ok(text.endsWith(`\r\n${body}`), `stored copy for jack@localhost: ${text}`);
      assert.match(text, new RegExp(`\\bid ${queueId};`));
      assert.match(server.output(), new RegExp(` delivered id=${queueId} to=jack@localhost\\b`));
    } finally {
      assert.equal(await server.stop(), 0);
    }
  },
);

test("check-config accepts a good TOML file and exits 0", TIMEOUT, async () => {
  const file = join(dataDir(), "good.toml");
  writeFileSync(
    file,
    [
      'hostname = "mx.example.test"',
      'domains = ["localhost", "example.test"]',
      'listen = ["127.0.0.1:2525", "127.0.0.1:2526"]',
      "max_message_size = 1048576",
      "hook_timeout = 5",
      "",
    ].join("\n"),
  );
  const result = await expectExit(["check-config", "--config", file], 0);
  assert.match(result.stdout, /config ok: 2 listener\(s\), domains localhost, example\.test/);
});

test(
  "check-config refuses a bad TOML file with exit 2, naming the file, the key and the reason",
  TIMEOUT,
  async () => {
    const dir = dataDir();
    const cases = [
      { text: 'max_message_size = "big"\n', key: "max_message_size", reason: /must be integer/ },
      { text: 'domains = ["not a domain!"]\n', key: "domains", reason: /is not a domain/ },
      { text: "colour = 3\n", key: "colour", reason: /unknown setting/ },
      { text: 'bare_lf = "maybe"\n', key: "bare_lf", reason: /"reject" or "normalize"/ },
    ];
    await Promise.all(cases.map(async ({ text, key, reason }, i) => {
      const file = join(dir, `bad${i}.toml`);
      writeFileSync(file, text);
      const result = await expectExit(["check-config", "--config", file], 2);
      assert.ok(result.stderr.includes(`${file}: ${key}: `), `${key}: ${result.stderr}`);
      assert.match(result.stderr, reason);
      assert.equal(result.stdout, "");
    }));
    const broken = join(dir, "broken.toml");
    writeFileSync(broken, "domains = [\n");
    const syntax = await expectExit(["check-config", "--config", broken], 2);
    assert.ok(syntax.stderr.includes(`${broken}: `), syntax.stderr);
  },
);

test("serve refuses a bad --listen value with exit 2 and starts nothing", TIMEOUT, async () => {
  const dir = dataDir();
  for (const listen of ["nonsense", "127.0.0.1:99999", "127.0.0.1:"]) {
    const result = await expectExit(["serve", "--listen", listen, "--data-dir", dir], 2);
    assert.match(result.stderr, /listen/);
    assert.ok(result.stderr.includes(listen), result.stderr);
    assert.doesNotMatch(result.stdout + result.stderr, /listening/);
  }
});
