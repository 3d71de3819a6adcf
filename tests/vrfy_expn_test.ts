/**
 * VRFY and EXPN against the real server with the `vrfy` and `expn` plugins:
 * users with names and aliases (one private) made with the real CLI, and
 * every answer as a transcript. Without the plugins, VRFY is 252 2.5.0 and
 * EXPN 502 5.5.1.
 *
 * @module
 */
import assert from "node:assert/strict";
import { cpSync, rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { postino, type RunningServer, startServer, tempDir } from "./helpers/server.ts";
import { RawClient } from "./helpers/smtp_client.ts";

const TIMEOUT = { timeout: 60_000 };
const DOMAINS = 'domains = ["example.test", "other.test"]\n';

let template: string;
const servers: RunningServer[] = [];
/** Both plugins, no rate limit, enabled with `--plugin`. */
let open: RunningServer;

async function cli(...args: string[]): Promise<string> {
  const result = await postino([...args, "--data-dir", template]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

before(async () => {
  template = tempDir();
  await cli("user", "add", "alice@example.test", "--name", "Alice Liddell");
  await cli("user", "add", "bob@example.test");
  await cli("user", "add", "bob@other.test", "--name", "Bob Other");
  await cli("user", "add", "jsmith@example.test", "--name", "Joe Smith");
  await cli("user", "add", "hsmith@example.test", "--name", "Harry Smith");
  await cli("alias", "add", "team@example.test", "alice@example.test", "bob@example.test");
  await cli("alias", "add", "team@example.test", "friend@far.example");
  assert.equal(
    await cli("alias", "add", "board@example.test", "alice@example.test", "--private"),
    "board@example.test -> alice@example.test [private]\n",
  );
  await cli("alias", "add", "staff@example.test", "jsmith@example.test");
  assert.equal(
    await cli("alias", "private", "staff@example.test", "on"),
    "staff@example.test is private\n",
  );
  assert.equal(
    await cli("alias", "private", "staff@example.test", "off"),
    "staff@example.test is public\n",
  );
  assert.equal(
    await cli("alias", "list"),
    [
      "board@example.test -> alice@example.test [private]",
      "staff@example.test -> jsmith@example.test",
      "team@example.test -> alice@example.test, bob@example.test, friend@far.example",
      "",
    ].join("\n"),
  );
  open = await serverWith(
    "[plugin.vrfy]\nper_minute = 0\n[plugin.expn]\nper_minute = 0\n",
    ["--plugin", "vrfy", "--plugin", "expn"],
  );
});

after(async () => {
  for (const server of servers) {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  rmSync(template, { recursive: true, force: true });
});

/** Starts Postino on a copy of the template data directory. */
async function serverWith(config: string, args: string[] = []): Promise<RunningServer> {
  const dataDir = tempDir();
  // The whole directory: the users may still sit in postino.db-wal.
  cpSync(template, dataDir, { recursive: true });
  const server = await startServer({ dataDir, config: DOMAINS + config, args });
  servers.push(server);
  return server;
}

/**
 * Runs a dialogue: each `C:` line is sent alone, and the `S:` lines after it
 * are the whole reply, line for line; a lone `S: /regex/` matches the last
 * line of the reply (for the greeting and EHLO).
 */
async function dialogue(port: number, script: string): Promise<void> {
  const client = await RawClient.connect(port);
  try {
    let want: string[] = [];
    const check = async () => {
      const [only] = want;
      if (want.length === 1 && only?.startsWith("/") && only.endsWith("/")) {
        const got = await client.reply();
        assert.match(got.at(-1) ?? "", new RegExp(only.slice(1, -1)), JSON.stringify(got));
      } else if (want.length > 0) {
        assert.deepEqual(await client.reply(), want);
      }
      want = [];
    };
    for (const raw of script.split("\n")) {
      const line = raw.trim();
      if (line === "") continue;
      if (line.startsWith("S:")) {
        want.push(line.slice(3));
      } else if (line.startsWith("C:")) {
        await check();
        await client.send(line.slice(3));
      } else {
        throw new Error(`dialogue line must start with C: or S:, got "${line}"`);
      }
    }
    await check();
  } finally {
    client.close();
  }
}

test(
  "VRFY answers users, names, aliases, ambiguity and other domains",
  TIMEOUT,
  async () => {
    await dialogue(
      open.port,
      `
    S: /^220 /
    C: EHLO client.test
    S: /^250 /
    C: VRFY alice
    S: 250 2.1.5 Alice Liddell <alice@example.test>
    C: VRFY <Alice@Example.test>
    S: 250 2.1.5 Alice Liddell <alice@example.test>
    C: VRFY alice@example.test
    S: 250 2.1.5 Alice Liddell <alice@example.test>
    C: VRFY Liddell
    S: 250 2.1.5 Alice Liddell <alice@example.test>
    C: VRFY bob@example.test
    S: 250 2.1.5 <bob@example.test>
    C: VRFY team
    S: 250 2.1.5 <team@example.test>
    C: VRFY bob
    S: 553-5.1.4 Ambiguous; possibilities are
    S: 553-5.1.4 <bob@example.test>
    S: 553 5.1.4 Bob Other <bob@other.test>
    C: VRFY Smith
    S: 553-5.1.4 Ambiguous; possibilities are
    S: 553-5.1.4 Harry Smith <hsmith@example.test>
    S: 553 5.1.4 Joe Smith <jsmith@example.test>
    C: VRFY carol
    S: 550 5.1.1 No such user here
    C: VRFY carol@example.test
    S: 550 5.1.1 No such user here
    C: VRFY carol@far.example
    S: 252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery
    C: QUIT
    S: /^221 /
  `,
    );
  },
);

test("EXPN with the expn plugin: members, private lists, users and unknowns", TIMEOUT, async () => {
  await dialogue(
    open.port,
    `
    S: /^220 /
    C: EHLO client.test
    S: /^250 /
    C: EXPN team@example.test
    S: 250-2.1.5 Alice Liddell <alice@example.test>
    S: 250-2.1.5 <bob@example.test>
    S: 250 2.1.5 <friend@far.example>
    C: EXPN <staff@example.test>
    S: 250 2.1.5 Joe Smith <jsmith@example.test>
    C: EXPN team
    S: 250-2.1.5 Alice Liddell <alice@example.test>
    S: 250-2.1.5 <bob@example.test>
    S: 250 2.1.5 <friend@far.example>
    C: EXPN board@example.test
    S: 550 5.7.1 List is private
    C: EXPN alice@example.test
    S: 250 2.1.5 Alice Liddell <alice@example.test>
    C: EXPN bob
    S: 553-5.1.4 Ambiguous; possibilities are
    S: 553-5.1.4 <bob@example.test>
    S: 553 5.1.4 Bob Other <bob@other.test>
    C: EXPN nolist@example.test
    S: 550 5.1.1 No such list here
    C: EXPN list@far.example
    S: 550 5.1.1 No such list here
    C: QUIT
    S: /^221 /
  `,
  );
});

test("vrfy non_local = 551, networks and per_minute; expn require_auth", TIMEOUT, async () => {
  const server = await serverWith(
    [
      'plugins = ["vrfy", "expn"]',
      "[plugin.vrfy]",
      'non_local = "551"',
      'networks = ["127.0.0.0/8"]',
      "per_minute = 3",
      "[plugin.expn]",
      "require_auth = true",
      "",
    ].join("\n"),
  );
  await dialogue(
    server.port,
    `
    S: /^220 /
    C: EHLO client.test
    S: /^250 /
    C: VRFY carol@far.example
    S: 551 5.1.6 User not local
    C: VRFY alice
    S: 250 2.1.5 Alice Liddell <alice@example.test>
    C: VRFY bob@example.test
    S: 250 2.1.5 <bob@example.test>
    C: VRFY alice
    S: 450 4.7.0 Too many lookups, slow down
    C: VRFY nobody@example.test
    S: 450 4.7.0 Too many lookups, slow down
    C: EXPN team@example.test
    S: 530 5.7.0 Authentication required
    C: EXPN nolist@example.test
    S: 530 5.7.0 Authentication required
    C: QUIT
    S: /^221 /
  `,
  );
  await server.waitFor(/plugin_warn .*plugin=vrfy .*lookup rate exceeded/);
});

test(
  "vrfy and expn outside their networks answer 550 5.7.1 whatever the name",
  TIMEOUT,
  async () => {
    const server = await serverWith(
      'plugins = ["vrfy", "expn"]\n[plugin.vrfy]\nnetworks = ["10.0.0.0/8"]\n' +
        '[plugin.expn]\nnetworks = ["192.0.2.0/24"]\n',
    );
    await dialogue(
      server.port,
      `
    S: /^220 /
    C: EHLO client.test
    S: /^250 /
    C: VRFY alice@example.test
    S: 550 5.7.1 Not allowed
    C: VRFY nobody@example.test
    S: 550 5.7.1 Not allowed
    C: EXPN team@example.test
    S: 550 5.7.1 Not allowed
    C: EXPN board@example.test
    S: 550 5.7.1 Not allowed
    C: QUIT
    S: /^221 /
  `,
    );
  },
);

test("without the plugins VRFY answers 252 2.5.0 and EXPN 502 5.5.1", TIMEOUT, async () => {
  const server = await serverWith("");
  await dialogue(
    server.port,
    `
    S: /^220 /
    C: EHLO client.test
    S: /^250 /
    C: VRFY alice@example.test
    S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
    C: EXPN team@example.test
    S: 502 5.5.1 EXPN not implemented
    C: QUIT
    S: /^221 /
  `,
  );
});
