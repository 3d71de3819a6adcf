/**
 * The `dnsbl` plugin against a real DNS server (dnsmasq) and the real
 * server: a client on a listed address is refused at connect, a client the
 * zones do not list is greeted, and an unreachable DNS server fails open.
 *
 * `bl.test` lists 127.0.0.1 (RFC 5782 §2.1: `1.0.0.127.bl.test` → 127.0.0.2);
 * every other `.test` name is NXDOMAIN, so `clean.test` lists no one.
 *
 * @module
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { type RunningDns, startDns } from "./helpers/dns.ts";
import { type RunningServer, startServer } from "./helpers/server.ts";
import { RawClient, transcript } from "./helpers/smtp_client.ts";

const TIMEOUT = { timeout: 60_000 };

let dns: RunningDns;
const servers: RunningServer[] = [];

before(async () => {
  dns = await startDns(["--host-record=1.0.0.127.bl.test,127.0.0.2"]);
});

after(async () => {
  for (const server of servers) {
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  await dns?.stop();
});

/** Starts Postino with `dnsbl` first in the chain and `table` as its options. */
async function serverWith(table: string): Promise<RunningServer> {
  const server = await startServer({ config: `plugins = ["dnsbl"]\n[plugin.dnsbl]\n${table}\n` });
  servers.push(server);
  return server;
}

test("dnsbl refuses a listed client at connect with 554 5.7.1 and closes", TIMEOUT, async () => {
  const server = await serverWith(
    `zones = ["clean.test", "bl.test"]\ndns_server = "${dns.server}"`,
  );
  const client = await RawClient.connect(server.port);
  assert.deepEqual(await client.reply(), [
    "554 5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test",
  ]);
  await client.waitClosed();
  await server.waitFor(/plugin conn=\S+ plugin=dnsbl .*zone=bl\.test/);
  await server.waitFor(/reject conn=\S+ stage=connect code=554/);
});

test("dnsbl greets a client that no zone lists", TIMEOUT, async () => {
  const server = await serverWith(`zones = ["clean.test"]\ndns_server = "${dns.server}"`);
  const client = await transcript(
    server.port,
    `
    S: 220
    C: EHLO localhost
    S: 250
    C: QUIT
    S: 221
  `,
  );
  client.close();
  assert.doesNotMatch(server.output(), /plugin_warn/);
});

test("dnsbl fails open when the DNS server does not answer, and warns", TIMEOUT, async () => {
  // Nothing listens on the discard port; the lookup is refused or times out.
  const server = await serverWith(`zones = ["bl.test"]\ndns_server = "127.0.0.1:9"\ntimeout = 1`);
  const client = await transcript(
    server.port,
    `
    S: 220
    C: QUIT
    S: 221
  `,
  );
  client.close();
  await server.waitFor(/plugin_warn conn=\S+ plugin=dnsbl .*zone=bl\.test/);
});

test("dnsbl without zones stops the server at startup with a clear error", TIMEOUT, async () => {
  await assert.rejects(
    startServer({ config: `plugins = ["dnsbl"]\n` }),
    /plugin\.dnsbl: zones must list at least one zone/,
  );
});
