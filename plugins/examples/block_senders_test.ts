import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { DECISIONS, type PluginHost } from "../../core/hooks/host.ts";
import type { HookContext } from "../../core/hooks/plugin.ts";
import { parseMailbox } from "../../core/smtp/address.ts";
import { Message } from "../../core/smtp/message.ts";
import { ROOT, type RunningServer, startServer } from "../../tests/helpers/server.ts";
import { transcript } from "../../tests/helpers/smtp_client.ts";
import blockSenders from "./block_senders.ts";

function host(options: Record<string, unknown>): PluginHost {
  return {
    ...DECISIONS,
    options,
    hostname: "mx.test",
    domains: ["localhost"],
    isLocalDomain: (d) => d === "localhost",
    directory: { resolve: () => undefined, isUser: () => false },
    dataDir: "/nonexistent",
    log: { info() {}, warn() {} },
  };
}

function context(state: { checked: number }): HookContext<{ checked: number }> {
  return {
    connection: {
      id: "c1",
      remote: { address: "192.0.2.1", port: 1 },
      local: { address: "127.0.0.1", port: 25 },
      helo: undefined,
      tls: undefined,
      user: undefined,
    },
    transaction: undefined,
    state,
    log: { info() {}, warn() {} },
  };
}

describe("block_senders example", () => {
  test("blockSenders() rejects a listed domain with 550 5.7.1", async () => {
    const plugin = blockSenders(host({ domains: ["Spam.Example"] }));
    const decision = await plugin.mail?.(
      context({ checked: 0 }),
      parseMailbox("x@spam.example") ?? null,
      {
        smtputf8: false,
      },
    );
    assert.equal(decision?.kind, "reject");
    assert.equal(decision?.reply?.code, 550);
    assert.equal(decision?.reply?.enhanced, "5.7.1");
  });

  test("blockSenders() passes other senders and the null sender", async () => {
    const plugin = blockSenders(host({ domains: ["spam.example"] }));
    const state = { checked: 0 };
    assert.equal(
      await plugin.mail?.(context(state), parseMailbox("a@ok.example") ?? null, {
        smtputf8: false,
      }),
      undefined,
    );
    assert.equal(await plugin.mail?.(context(state), null, { smtputf8: false }), undefined);
    assert.equal(state.checked, 2);
  });

  test("blockSenders() stamps the header on accepted messages", async () => {
    const plugin = blockSenders(host({}));
    const message = Message.parse(new TextEncoder().encode("Subject: x\r\n\r\nbody\r\n"));
    await plugin.data_post?.(context({ checked: 1 }), message);
    assert.equal(message.get("X-Block-Senders"), "passed; checked=1");
    assert.deepEqual(message.headerNames, ["X-Block-Senders", "Subject"]);
  });

  describe("loaded from its file by the real server", () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer({
        users: ["alice@localhost"],
        config: `plugins = ["${join(ROOT, "plugins/examples/block_senders.ts")}"]\n` +
          `[plugin.block_senders]\ndomains = ["spam.example"]\n`,
      });
    });
    after(async () => {
      await server.stop();
    });

    test("a blocked sender gets 550 and a good one is delivered with the header", async () => {
      const client = await transcript(
        server.port,
        `
        S: 220
        C: EHLO client.example
        S: 250 HELP
        C: MAIL FROM:<bad@spam.example>
        S: 550 5.7.1 Mail from your domain
        C: MAIL FROM:<good@ok.example>
        S: 250 2.1.0
        C: RCPT TO:<alice@localhost>
        S: 250 2.1.5
        C: DATA
        S: 354
        C: Subject: hello
        C:
        C: hi
        C: .
        S: 250 2.0.0 Ok: queued as
        C: QUIT
        S: 221
      `,
      );
      client.close();
      // Delivery runs from the spool after the 250 reply.
      await server.settled();
      const dir = join(server.dataDir, "mail/localhost/alice/new");
      const files = readdirSync(dir);
      assert.equal(files.length, 1);
      const stored = readFileSync(join(dir, files[0] as string), "utf8");
      assert.match(stored, /^X-Block-Senders: passed; checked=2\r$/m);
    });
  });
});
