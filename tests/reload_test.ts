/**
 * Reload on SIGHUP of the real server process, beyond what signals_test.ts
 * covers (an added domain; a TOML syntax error and a bad value): sessions
 * open across a reload finish their message and keep their settings, new
 * sessions get the new settings, plugin options and certificates, and every
 * kind of bad config keeps the old one running, as seen on the wire.
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { type RunningServer, tempDir } from "./helpers/server.ts";
import { RawClient } from "./helpers/smtp_client.ts";
import { makeCerts, SmtpConn, tlsConfig, waitForListeners } from "./helpers/tls.ts";
import {
  expectReply,
  maildirFiles,
  queuedId,
  queueIds,
  scratchDirs,
  sendSignal,
  stopWithin,
} from "./helpers/lifecycle.ts";
import { freePort, HAVE_SINK, sendMail, type Sink, startSink } from "./helpers/remote_sink.ts";

const TIMEOUT = { timeout: 90_000 };
const { start, keep } = scratchDirs();

/** How many times `pattern` (a global regex) occurs in the server's output. */
function count(server: RunningServer, pattern: RegExp): number {
  return [...server.output().matchAll(pattern)].length;
}

/**
 * Writes `toml` as the server's config file, sends SIGHUP and waits for the
 * outcome: one more `reloaded` line, or one more `reload_failed` line.
 * Returns that line.
 */
async function reload(
  server: RunningServer,
  toml: string,
  outcome: "reloaded" | "reload_failed",
): Promise<string> {
  const pattern = new RegExp(` ${outcome} [^\\n]*`, "g");
  const before = count(server, pattern);
  writeFileSync(join(server.dataDir, "postino.toml"), toml);
  sendSignal(server, "SIGHUP");
  await server.waitFor(new RegExp(`(?: ${outcome} [^\\n]*\\n[\\s\\S]*?){${before + 1}}`));
  const line = [...server.output().matchAll(pattern)][before]?.[0] ?? "";
  assert.equal(server.child.exitCode, null, "a reload must not stop the server");
  return line.trim();
}

/** Connects and reads the greeting. */
async function connect(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  await expectReply(client, "220");
  return client;
}

/** Sends EHLO `name`; returns the whole reply. */
async function ehlo(client: RawClient | SmtpConn, name: string): Promise<string[]> {
  await client.send(`EHLO ${name}`);
  return await client.reply();
}

/** The SIZE an EHLO reply announces (RFC 1870), or undefined. */
function sizeOf(reply: string[]): number | undefined {
  const line = reply.find((l) => /^250[ -]SIZE \d+$/.test(l));
  return line === undefined ? undefined : Number(line.slice(9));
}

/** A fresh session's EHLO as seen on the wire: its SIZE, and whether the dotless name passes. */
async function probe(port: number): Promise<{ size: number | undefined; dotless: string }> {
  const client = await connect(port);
  try {
    const dotless = (await ehlo(client, "client")).at(-1) as string;
    const size = sizeOf(await ehlo(client, "client.example"));
    await client.send("QUIT");
    return { size, dotless: /^\d{3}(?: \d\.\d{1,3}\.\d{1,3})?/.exec(dotless)?.[0] ?? dotless };
  } finally {
    client.close();
  }
}

/** The config of these tests: a SIZE limit and helo_check's `require_fqdn`. */
function sizeAndHelo(size: number, requireFqdn: boolean, extra = ""): string {
  return `max_message_size = ${size}\nplugins = ["helo_check"]\n` +
    `${extra}[plugin.helo_check]\nrequire_fqdn = ${requireFqdn}\n`;
}

/** A message body of about `bytes` octets in 70-octet lines, CRLF, not dot-stuffed. */
function body(bytes: number): string {
  return ("x".repeat(68) + "\r\n").repeat(Math.ceil(bytes / 70));
}

test(
  "SIGHUP: sessions after RCPT and mid-DATA finish with 250 under their old settings; new sessions get the new ones",
  TIMEOUT,
  async () => {
    const server = await start({
      config: sizeAndHelo(20_000, false),
      users: ["alice@localhost"],
    });
    const clients: RawClient[] = [];
    try {
      assert.deepEqual(await probe(server.port), { size: 20_000, dotless: "250" });
      // One session stops after RCPT, one in the middle of its DATA.
      const enveloped = await connect(server.port);
      const midData = await connect(server.port);
      clients.push(enveloped, midData);
      for (const client of clients) {
        await ehlo(client, "client");
        await client.send("MAIL FROM:<sender@localhost>");
        await expectReply(client, "250 2.1.0");
        await client.send("RCPT TO:<alice@localhost>");
        await expectReply(client, "250 2.1.5");
      }
      await midData.send("DATA");
      await expectReply(midData, "354");
      const big = body(10_000); // over the new limit, under the old one
      await midData.write(`Subject: mid data\r\n\r\n${big.slice(0, 5_000)}`);

      await reload(server, sizeAndHelo(2_000, true), "reloaded");
      // New sessions: the new SIZE, and helo_check now wants a dot in the name.
      assert.deepEqual(await probe(server.port), { size: 2_000, dotless: "504 5.5.2" });
      const fresh = await connect(server.port);
      clients.push(fresh);
      await ehlo(fresh, "client.example");
      await fresh.send(`MAIL FROM:<sender@localhost> SIZE=${big.length}`);
      await expectReply(fresh, "552 5.3.4");

      // The old sessions go on under the old limit.
      await midData.write(`${big.slice(5_000)}.\r\n`);
      const first = queuedId(await expectReply(midData, "250 2.0.0"));
      await enveloped.send("DATA");
      await expectReply(enveloped, "354");
      await enveloped.write(`Subject: after rcpt\r\n\r\n${big}.\r\n`);
      const second = queuedId(await expectReply(enveloped, "250 2.0.0"));
      // And under the old plugin options: the dotless name still passes there.
      const again = await ehlo(enveloped, "client");
      assert.match(again.at(-1) ?? "", /^250 /);
      assert.equal(sizeOf(again), 20_000);

      await server.settled();
      const stored = maildirFiles(server.dataDir, "alice@localhost")
        .map((file) => readFileSync(file, "latin1"));
      assert.equal(stored.length, 2);
      for (const id of [first, second]) {
        const text = stored.find((t) => t.includes(id));
        assert.ok(text?.endsWith(`\r\n\r\n${big}`), `message ${id} is not whole`);
      }
    } finally {
      for (const client of clients) client.close();
      await stopWithin(server);
    }
  },
);

test(
  "SIGHUP: a changed [plugin.rate_limit] option limits new sessions; an open session keeps the old limit",
  TIMEOUT,
  async () => {
    const limit = (n: number) =>
      `plugins = ["rate_limit"]\n[plugin.rate_limit]\nmessages_per_minute = ${n}\n`;
    const server = await start({ config: limit(100) });
    const clients: RawClient[] = [];
    try {
      const old = await connect(server.port);
      clients.push(old);
      await ehlo(old, "client.example");

      await reload(server, limit(1), "reloaded");
      const fresh = await connect(server.port);
      clients.push(fresh);
      await ehlo(fresh, "client.example");
      await fresh.send("MAIL FROM:<sender@localhost>");
      await expectReply(fresh, "250 2.1.0");
      await fresh.send("RSET");
      await expectReply(fresh, "250");
      await fresh.send("MAIL FROM:<sender@localhost>");
      await expectReply(fresh, "452 4.7.0");

      // The session from before the reload counts against the old limit of 100.
      for (let i = 0; i < 3; i++) {
        await old.send("MAIL FROM:<sender@localhost>");
        await expectReply(old, "250 2.1.0");
        await old.send("RSET");
        await expectReply(old, "250");
      }
    } finally {
      for (const client of clients) client.close();
      await stopWithin(server);
    }
  },
);

/** Opens a STARTTLS session on `port` and returns it with the served certificate's fingerprint. */
async function starttls(port: number): Promise<{ client: SmtpConn; fingerprint: string }> {
  const client = await SmtpConn.connect(port);
  await expectReply(client, "220");
  await ehlo(client, "client.example");
  await client.send("STARTTLS");
  await expectReply(client, "220");
  const secure = await client.startTls();
  await ehlo(client, "client.example");
  return { client, fingerprint: secure.getPeerCertificate().fingerprint256 };
}

/** The fingerprint served by an implicit-TLS listener on `port`. */
async function implicitFingerprint(port: number): Promise<string> {
  const client = await SmtpConn.connect(port, { tls: true });
  try {
    await expectReply(client, "220");
    return (client.socket as TLSSocket).getPeerCertificate().fingerprint256;
  } finally {
    client.close();
  }
}

test(
  "SIGHUP: renewed certificates serve new STARTTLS and implicit-TLS sessions; a session already in TLS goes on",
  TIMEOUT,
  async () => {
    const certs = makeCerts();
    keep(certs.dir);
    const config = `${tlsConfig(certs)}tls_listen = ["127.0.0.1:0"]\n`;
    const server = await start({ config, users: ["alice@localhost"] });
    const clients: SmtpConn[] = [];
    try {
      const [port, tlsPort] = await waitForListeners(server, 2) as [number, number];
      const old = await starttls(port);
      clients.push(old.client);
      assert.equal(old.fingerprint, certs.fingerprint256);
      assert.equal(await implicitFingerprint(tlsPort), certs.fingerprint256);

      // Connected before the reload, STARTTLS after it.
      const plain = await SmtpConn.connect(port);
      clients.push(plain);
      await expectReply(plain, "220");
      await ehlo(plain, "client.example");

      const renewed = makeCerts({ dir: certs.dir, commonName: "renewed.localhost" });
      assert.notEqual(renewed.fingerprint256, certs.fingerprint256);
      await reload(server, config, "reloaded");

      const fresh = await starttls(port);
      clients.push(fresh.client);
      assert.equal(fresh.fingerprint, renewed.fingerprint256);
      assert.equal(await implicitFingerprint(tlsPort), renewed.fingerprint256);

      // A session keeps the settings it started with, the certificate included.
      await plain.send("STARTTLS");
      await expectReply(plain, "220");
      const late = await plain.startTls();
      assert.equal(late.getPeerCertificate().fingerprint256, certs.fingerprint256);

      // The session that was in TLS before the reload still sends mail.
      const mail = [
        ["MAIL FROM:<sender@localhost>", "250 2.1.0"],
        ["RCPT TO:<alice@localhost>", "250 2.1.5"],
        ["DATA", "354"],
        ["Subject: over the old TLS session\r\n\r\nhello\r\n.", "250 2.0.0"],
      ];
      for (const [line, want] of mail) {
        await old.client.send(line as string);
        await expectReply(old.client, want as string);
      }
      const socket = old.client.socket as TLSSocket;
      assert.equal(socket.getPeerCertificate().fingerprint256, certs.fingerprint256);
      await server.settled();
      assert.equal(maildirFiles(server.dataDir, "alice@localhost").length, 1);
    } finally {
      for (const client of clients) client.close();
      await stopWithin(server);
    }
  },
);

/** A custom plugin file that fails to load. */
function brokenPlugin(dir: string): string {
  const path = join(dir, "broken_plugin.ts");
  writeFileSync(path, "export default 42;\n");
  return path;
}

test(
  "SIGHUP with a bad config keeps the old settings, plugins and certificate on the wire, and logs reload_failed",
  TIMEOUT,
  async () => {
    const certs = makeCerts();
    const other = makeCerts(); // a pair whose certificate does not go with `certs`' key
    keep(certs.dir, other.dir);
    const scratch = tempDir();
    keep(scratch);
    const good = sizeAndHelo(20_000, true, tlsConfig(certs));
    const server = await start({ config: good });
    const clients: SmtpConn[] = [];
    /** The old config's behaviour: SIZE 20000, dotless names refused, the first certificate. */
    const assertOldConfig = async (why: string) => {
      assert.deepEqual(await probe(server.port), { size: 20_000, dotless: "504 5.5.2" }, why);
      const { client, fingerprint } = await starttls(server.port);
      clients.push(client);
      assert.equal(fingerprint, certs.fingerprint256, why);
    };
    try {
      await assertOldConfig("before any reload");
      // Each bad config would also change SIZE and helo_check, so applying any of it shows.
      const changed = (table = "", tls: string = tlsConfig(certs)) =>
        sizeAndHelo(2_000, false, tls) + table;
      const missing = join(scratch, "missing.pem");
      const cases: { name: string; toml: string; log: RegExp }[] = [
        {
          name: "missing certificate file",
          toml: changed(
            "",
            `tls_cert = ${JSON.stringify(missing)}\ntls_key = ${JSON.stringify(certs.keyPath)}\n`,
          ),
          log: /tls_cert: cannot read \S*missing\.pem/,
        },
        {
          name: "certificate that does not match the key",
          toml: changed(
            "",
            `tls_cert = ${JSON.stringify(other.certPath)}\ntls_key = ${
              JSON.stringify(certs.keyPath)
            }\n`,
          ),
          log: /does not match the certificate/,
        },
        {
          name: "unknown plugin",
          toml: changed("").replace('plugins = ["helo_check"]', 'plugins = ["helo_check", "nope"]'),
          log: /unknown plugin \\?"nope\\?"/,
        },
        {
          name: "plugin file that does not load",
          toml: changed("").replace(
            'plugins = ["helo_check"]',
            `plugins = ["helo_check", ${JSON.stringify(brokenPlugin(scratch))}]`,
          ),
          log: /broken_plugin\.ts/,
        },
        {
          name: "invalid plugin option",
          toml: changed('local_addresses = ["not-an-address"]\n'),
          log: /helo_check: \\?"not-an-address\\?" is not an IP address/,
        },
      ];
      for (const { name, toml, log } of cases) {
        const line = await reload(server, toml, "reload_failed");
        assert.match(line, log, `${name}: the log must say why`);
        assert.match(line, /kept="previous config"/, name);
        await assertOldConfig(name);
      }

      // The same server does apply a good config, so the checks above can fail.
      await reload(server, sizeAndHelo(2_000, false, tlsConfig(other)), "reloaded");
      assert.deepEqual(await probe(server.port), { size: 2_000, dotless: "250" });
      const { client, fingerprint } = await starttls(server.port);
      clients.push(client);
      assert.equal(fingerprint, other.fingerprint256);
    } finally {
      for (const client of clients) client.close();
      await stopWithin(server);
    }
  },
);

/**
 * A custom plugin file that logs when it is built and closed, tells which
 * build a session runs (`EHLO gen.test` gets `550 5.7.1 gen N`), and can be
 * slow to build (`delay_ms`) or fail to close (`close_throws`).
 */
function lifecyclePlugin(dir: string): string {
  const path = join(dir, "lifecycle.js");
  writeFileSync(
    path,
    `export default async (host) => {
  const gen = host.options.gen;
  host.log.info("built", { gen });
  if (host.options.delay_ms) await new Promise((r) => setTimeout(r, host.options.delay_ms));
  return {
    name: "lifecycle",
    helo: (_ctx, helo) => helo.name === "gen.test" ? host.reject(550, "5.7.1", "gen " + gen) : undefined,
    close() {
      host.log.info("closed", { gen });
      if (host.options.close_throws) throw new Error("close failed on purpose");
    },
  };
};
`,
  );
  return path;
}

/** The config that runs `plugin` with `options` (TOML key = value lines). */
function withPlugin(plugin: string, options: string, extra = ""): string {
  return `${extra}plugins = [${JSON.stringify(plugin)}]\n[plugin.lifecycle]\n${options}`;
}

/** Which build of the lifecycle plugin a session runs. */
async function generation(client: RawClient): Promise<string> {
  const reply = await ehlo(client, "gen.test");
  return /gen (\d+)/.exec(reply.at(-1) ?? "")?.[1] ?? `none: ${reply.join(" | ")}`;
}

test(
  "SIGHUP closes the replaced plugin chain once its last session ends, and the rest at shutdown",
  TIMEOUT,
  async () => {
    const scratch = tempDir();
    keep(scratch);
    const plugin = lifecyclePlugin(scratch);
    const server = await start({ config: withPlugin(plugin, "gen = 1\n") });
    const clients: RawClient[] = [];
    try {
      const old = await connect(server.port);
      clients.push(old);
      assert.equal(await generation(old), "1");

      await reload(server, withPlugin(plugin, "gen = 2\n"), "reloaded");
      const fresh = await connect(server.port);
      clients.push(fresh);
      assert.equal(await generation(fresh), "2");
      // Still in use by the session from before: not closed under its feet.
      assert.equal(await generation(old), "1");
      assert.doesNotMatch(server.output(), /message=closed gen=1/);
      await old.send("QUIT");
      await expectReply(old, "221");
      await server.waitFor(/message=closed gen=1/);

      // Nobody runs gen 3 when gen 4 replaces it: closed at once.
      await reload(server, withPlugin(plugin, "gen = 3\n"), "reloaded");
      await reload(server, withPlugin(plugin, "gen = 4\nclose_throws = true\n"), "reloaded");
      await server.waitFor(/message=closed gen=3/);
      fresh.close();
      await server.waitFor(/message=closed gen=2/);

      // Shutdown closes the chain in use; a close() that throws is logged, not fatal.
      assert.equal(await stopWithin(server), 0);
      assert.match(
        server.output(),
        /plugin_close_failed plugin=lifecycle error="close failed on purpose"/,
      );
      for (const gen of [1, 2, 3, 4]) {
        assert.equal(
          count(server, new RegExp(`message=closed gen=${gen}\\b`, "g")),
          1,
          `gen ${gen}`,
        );
      }
      assert.match(server.output(), / stopped/);
    } finally {
      for (const client of clients) client.close();
      await stopWithin(server);
    }
  },
);

test(
  "SIGHUP twice in a row: the config file's last content wins, even when the first reload is slower",
  TIMEOUT,
  async () => {
    const scratch = tempDir();
    keep(scratch);
    const plugin = lifecyclePlugin(scratch);
    const server = await start({ config: "max_message_size = 10000\n" });
    try {
      const file = join(server.dataDir, "postino.toml");
      // The first reload takes a while to build its chain…
      writeFileSync(
        file,
        withPlugin(plugin, "gen = 1\ndelay_ms = 1500\n", "max_message_size = 3000\n"),
      );
      sendSignal(server, "SIGHUP");
      await server.waitFor(/message=built gen=1/);
      // …and the file changes again meanwhile.
      writeFileSync(file, "max_message_size = 4000\n");
      sendSignal(server, "SIGHUP");
      await server.waitFor(/ reloaded [^\n]*\n[\s\S]* reloaded /);

      const client = await connect(server.port);
      try {
        assert.equal(sizeOf(await ehlo(client, "client.example")), 4000);
        assert.match(await generation(client), /^none/);
      } finally {
        client.close();
      }
      // The slow chain was replaced before any session used it.
      await server.waitFor(/message=closed gen=1/);
    } finally {
      await stopWithin(server);
    }
  },
);

test(
  "SIGHUP: a new relay_host takes the queued mail on its next attempt; start-only settings get a reload_note",
  { ...TIMEOUT, skip: !HAVE_SINK },
  async () => {
    const dead = await freePort();
    const sink: Sink = await startSink();
    const relay = (port: number, extra = "") =>
      `hostname = "postino.test"\nrelay_networks = ["127.0.0.1/32"]\n` +
      `relay_host = "127.0.0.1:${port}"\nretry_initial = 1\nretry_max = 2\n${extra}`;
    const server = await start({ config: relay(dead) });
    try {
      const sent = await sendMail(server.port, {
        from: "alice@localhost",
        to: ["dave@remote.test"],
        data: "Message-ID: <moved@postino.test>\r\nSubject: moved\r\n\r\nhello\r\n",
      });
      const id = sent.id as string;
      await server.waitFor(new RegExp(` deferred id=${id} `));

      // The smart host moves; delivery_concurrency is read at start only.
      const line = await reload(server, relay(sink.port, "delivery_concurrency = 3\n"), "reloaded");
      assert.match(line, /reloaded /);
      await server.waitFor(/reload_note restart_needed=delivery_concurrency /);
      await server.waitFor(new RegExp(` delivered id=${id} `), 20_000);
      const [dump] = await sink.waitDumps(1);
      assert.match(dump ?? "", /Message-ID: <moved@postino\.test>/);
      assert.deepEqual(await queueIds(server.dataDir), []);
    } finally {
      await stopWithin(server);
      await sink.stop();
    }
  },
);
