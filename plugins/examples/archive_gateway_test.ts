import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, type RunningServer, startServer } from "../../tests/helpers/server.ts";
import { transcript } from "../../tests/helpers/smtp_client.ts";

describe("archive_gateway example, loaded by the real server", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({
      users: ["alice@localhost"],
      config: `plugins = ["${join(ROOT, "plugins/examples/archive_gateway.ts")}"]\n` +
        `[plugin.archive_gateway]\ndomains = ["archive.example"]\n`,
    });
  });
  after(async () => {
    await server.stop();
  });

  test("routes archive.example recipients to the gateway and local ones to the Maildir", async () => {
    const client = await transcript(
      server.port,
      `
      S: 220
      C: EHLO client.example
      S: 250 HELP
      C: MAIL FROM:<someone@far.example>
      S: 250 2.1.0
      C: RCPT TO:<records@archive.example>
      S: 250 2.1.5
      C: RCPT TO:<elsewhere@far.example>
      S: 550 5.7.1
      C: RCPT TO:<alice@localhost>
      S: 250 2.1.5
      C: DATA
      S: 354
      C: Subject: keep this
      C:
      C: archived body
      C: .
      S: /^250 2\\.0\\.0 Ok: queued as \\S+$/
      C: QUIT
      S: 221
    `,
    );
    client.close();
    await server.settled();
    const id = / queued .*?\bid=(\S+)/.exec(server.output())?.[1] as string;
    const file = join(server.dataDir, "archive", `${id}.eml`);
    assert.ok(existsSync(file), server.output());
    assert.match(readFileSync(file, "utf8"), /\r\nSubject: keep this\r\n\r\narchived body\r\n$/);
    assert.match(
      server.output(),
      new RegExp(` delivered id=${id} to=records@archive\\.example host=archive`),
    );
    assert.match(server.output(), new RegExp(` delivered id=${id} to=alice@localhost\\b`));
  });
});
