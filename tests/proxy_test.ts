/**
 * Wire tests: a listener behind a proxy (proxy_listen) reads the HAProxy
 * PROXY header first and uses the client address it carries.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient } from "./helpers/smtp_client.ts";

describe("PROXY protocol listener", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({
      users: ["alice@localhost"],
      config: `proxy_listen = ["127.0.0.1:0"]\nmax_connections_per_ip = 1\n`,
    });
  });
  after(async () => {
    await server.stop();
  });

  test("a v1 header sets the client address seen by the session and the Received header", async () => {
    const client = await RawClient.connect(server.port);
    await client.write("PROXY TCP4 192.0.2.9 127.0.0.1 5555 25\r\nEHLO proxied.example\r\n");
    assert.match((await client.reply()).join("\n"), /^220 /);
    assert.match(
      (await client.reply())[0] as string,
      /^250-\S+ Hello proxied\.example \[192\.0\.2\.9\]$/,
    );
    await client.send("MAIL FROM:<a@far.example>");
    assert.match((await client.reply())[0] as string, /^250 2\.1\.0/);
    await client.send("RCPT TO:<alice@localhost>");
    assert.match((await client.reply())[0] as string, /^250 2\.1\.5/);
    await client.send("DATA");
    await client.reply();
    await client.write("Subject: via proxy\r\n\r\nhi\r\n.\r\n");
    assert.match((await client.reply())[0] as string, /^250 2\.0\.0/);
    await client.send("QUIT");
    await client.reply();
    client.close();
    await server.settled();
    const dir = join(server.dataDir, "mail/localhost/alice/new");
    const [file] = readdirSync(dir);
    assert.match(
      readFileSync(join(dir, file as string), "utf8"),
      /^Received: from proxied\.example \(\[192\.0\.2\.9\]\)/m,
    );
    assert.match(server.output(), /connect conn=\S+ ip=192\.0\.2\.9 port=5555/);
  });

  test("per-IP limits count the proxied address, not the proxy's", async () => {
    const first = await RawClient.connect(server.port);
    await first.write("PROXY TCP4 192.0.2.10 127.0.0.1 1000 25\r\n");
    assert.match((await first.reply())[0] as string, /^220 /);
    const other = await RawClient.connect(server.port);
    await other.write("PROXY TCP4 192.0.2.11 127.0.0.1 1001 25\r\n");
    assert.match(
      (await other.reply())[0] as string,
      /^220 /,
      "another client behind the same proxy",
    );
    const same = await RawClient.connect(server.port);
    await same.write("PROXY TCP4 192.0.2.10 127.0.0.1 1002 25\r\n");
    assert.match((await same.reply())[0] as string, /^421 4\.7\.0 .*from your address/);
    for (const c of [first, other, same]) c.close();
  });

  test("a connection without a PROXY header is closed without a greeting", async () => {
    const client = await RawClient.connect(server.port);
    await client.write("EHLO sneaky.example\r\n");
    await client.waitClosed();
    assert.doesNotMatch(client.unread, /220/);
    assert.match(
      server.output(),
      /reject ip=127\.0\.0\.1 stage=handshake reason="Error: bad PROXY header/,
    );
  });
});
