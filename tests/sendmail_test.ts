/**
 * `postino send` and `postino queue` against a running server, as a local
 * program and an admin use them: the message goes into the spool with no
 * network hop, and the server's scheduler (polling every 5 s) delivers it
 * to the Maildir without a restart; the queue commands steer mail that
 * cannot go out.
 *
 * @module
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { postino, type RunningServer, startServer } from "./helpers/server.ts";

const TIMEOUT = { timeout: 60_000 };
const servers: RunningServer[] = [];

after(async () => {
  for (const server of servers) {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
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

/** Polls `check` every 200 ms until it returns a value, for up to `ms`. */
async function eventually<T>(what: string, check: () => T | undefined, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The messages in `address`'s Maildir `new/`, once there are `n` of them. */
function mailbox(server: RunningServer, address: string, n = 1): Promise<string[]> {
  const [local, domain] = address.split("@") as [string, string];
  const dir = join(server.dataDir, "mail", domain, local, "new");
  return eventually(`${n} message(s) for ${address}`, () => {
    const files = existsSync(dir) ? readdirSync(dir) : [];
    return files.length >= n ? files.map((f) => readFileSync(join(dir, f), "latin1")) : undefined;
  });
}

const CONFIG = `domains = ["example.com"]
hostname = "mx.example.com"

[transport]
# Nothing listens on port 1: mail for remote.test is refused and stays deferred.
"remote.test" = "127.0.0.1:1"
`;

async function server(): Promise<RunningServer> {
  const started = await startServer({
    users: ["bob@example.com", "carol@example.com"],
    config: CONFIG,
  });
  servers.push(started);
  return started;
}

/** `postino send` as a local program runs it, against `server`'s data dir and config. */
function sendArgs(server: RunningServer, ...args: string[]): string[] {
  const config = join(server.dataDir, "postino.toml");
  return ["send", "--config", config, "--data-dir", server.dataDir, ...args];
}

test(
  "postino send: the running server delivers to the Maildir with the body intact",
  TIMEOUT,
  async () => {
    const s = await server();
    const body = "Hello Bob,\n\n.\n..leading dots stay\nCaf\u00e9 \u2615\nlast line\n";
    await expectExit(
      sendArgs(s, "-oi", "-f", "cron@example.com", "bob@example.com"),
      0,
      `Subject: nightly\n\n${body}`,
    );
    const [stored] = await mailbox(s, "bob@example.com");
    const text = Buffer.from(stored as string, "latin1").toString("utf8");
    const [headers, ...rest] = text.split("\r\n\r\n");
    assert.equal(rest.join("\r\n\r\n"), body.replace(/\n/g, "\r\n"));
    assert.match(
      headers ?? "",
      /^Received: from local \(.*\)\r\n\tby mx\.example\.com \(Postino\)/m,
    );
    assert.match(headers ?? "", /\r\nSubject: nightly\r\n/);
    assert.match(
      headers ?? "",
      /\r\nDate: .*\r\nMessage-ID: <\w+@mx\.example\.com>\r\nFrom: cron@example\.com/,
    );
  },
);

test(
  "postino send -t: To, Cc and Bcc all receive, and the copies carry no Bcc",
  TIMEOUT,
  async () => {
    const s = await server();
    await expectExit(
      sendArgs(s, "-t"),
      0,
      "To: Bob <bob@example.com>\nCc: postmaster@example.com\nBcc: carol@example.com\n" +
        "Subject: team\n\nfor everyone\n",
    );
    for (const address of ["bob@example.com", "postmaster@example.com", "carol@example.com"]) {
      const [stored] = await mailbox(s, address);
      assert.doesNotMatch(stored ?? "", /^Bcc:/im, address);
      assert.match(stored ?? "", /\r\n\r\nfor everyone\r\n$/, address);
    }
  },
);

test("postino send refuses unknown local users and bad addresses", TIMEOUT, async () => {
  const s = await server();
  const unknown = await expectExit(sendArgs(s, "nobody@example.com"), 1, "x\n");
  assert.match(unknown.stderr, /no such user: nobody@example\.com/);
  const bad = await expectExit(sendArgs(s, "not an address"), 2, "x\n");
  assert.match(bad.stderr, /bad recipient address/);
  await expectExit(sendArgs(s), 2, "x\n");
  const list = await expectExit(["queue", "list", "--json", "--data-dir", s.dataDir], 0);
  assert.deepEqual(JSON.parse(list.stdout), []);
});

test(
  "postino queue: list, hold, release and remove mail that cannot be delivered",
  TIMEOUT,
  async () => {
    const s = await server();
    const queue = (...args: string[]) => ["queue", ...args, "--data-dir", s.dataDir];
    const sent = await expectExit(
      sendArgs(s, "-v", "someone@remote.test"),
      0,
      "Subject: far\n\nx\n",
    );
    const id = sent.stdout.trim();
    assert.match(id, /^\w{14}$/);

    type Listing = {
      id: string;
      held: boolean;
      recipients: { attempts: number; state: string; lastError: string | null }[];
    };
    const list = async () =>
      JSON.parse((await expectExit(queue("list", "--json"), 0)).stdout) as Listing[];
    // The server tries once (the remote refuses) and keeps the message queued.
    let listing: Listing[] = [];
    const deadline = Date.now() + 15_000;
    while (!(listing[0]?.recipients[0]?.attempts ?? 0)) {
      if (Date.now() > deadline) throw new Error(`no attempt: ${JSON.stringify(listing)}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      listing = await list();
    }
    assert.equal(listing.length, 1);
    assert.equal(listing[0]?.id, id);
    assert.equal(listing[0]?.held, false);
    assert.equal(listing[0]?.recipients[0]?.state, "queued");
    assert.equal(typeof listing[0]?.recipients[0]?.lastError, "string");

    await expectExit(queue("hold", id), 0);
    assert.equal((await list())[0]?.held, true);
    const text = await expectExit(queue("list"), 0);
    assert.match(text.stdout, new RegExp(`^${id} .* HELD\n  <someone@remote\\.test>  queued`));
    await expectExit(queue("release", id), 0);
    assert.equal((await list())[0]?.held, false);
    await expectExit(queue("flush", id), 0);
    await expectExit(queue("remove", id), 0);
    assert.deepEqual(await list(), []);
    await expectExit(queue("remove", id), 1);
  },
);
