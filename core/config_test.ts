import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, DEFAULTS, validateConfig } from "./config.ts";

test("validateConfig() fills the embedded defaults", () => {
  const config = validateConfig({ hostname: "mx.example.org" }, "test");
  assert.deepEqual(config.listen, [{ hostname: "127.0.0.1", port: 2525 }]);
  assert.deepEqual(config.domains, ["localhost"]);
  assert.equal(config.dataDir, "./data");
  assert.equal(config.maxRecipients, 100);
  assert.equal(config.bareLf, "reject");
  assert.equal(config.maxMessageSize, DEFAULTS.maxMessageSize);
});

test("validateConfig() converts seconds and lower-cases domains", () => {
  const config = validateConfig({
    hostname: "mx.example.org",
    domains: ["Example.ORG", "example.org", "b.example"],
    idle_timeout: 7,
    listen: ["[::1]:25", "0.0.0.0:587"],
    plugins: ["./x/my_plugin.ts", "rcpt_local"],
    plugin: { my_plugin: { level: 3 }, rcpt_local: {} },
  }, "test");
  assert.deepEqual(config.domains, ["example.org", "b.example"]);
  assert.equal(config.idleTimeoutMs, 7000);
  assert.deepEqual(config.listen, [{ hostname: "::1", port: 25 }, {
    hostname: "0.0.0.0",
    port: 587,
  }]);
  assert.deepEqual(config.plugins, [
    { name: "./x/my_plugin.ts", options: { level: 3 } },
    { name: "rcpt_local", options: {} },
  ]);
});

const BAD: [Record<string, unknown>, RegExp][] = [
  [{ nonsense: 1 }, /test: nonsense: unknown setting/],
  [{ domains: "example.org" }, /domains: must be string\[\]/],
  [{ domains: ["bad domain"] }, /domains: "bad domain" is not a domain/],
  [{ domains: [] }, /domains: needs at least one/],
  [{ listen: ["localhost"] }, /listen: expected HOST:PORT/],
  [{ listen: ["127.0.0.1:70000"] }, /listen:/],
  [{ max_recipients: 0 }, /max_recipients: must be a positive integer/],
  [{ max_message_size: 1.5 }, /max_message_size: must be integer/],
  [{ bare_lf: "allow" }, /bare_lf: must be "reject" or "normalize"/],
  [{ hostname: "under_score host" }, /hostname:/],
  [{ plugin: { x: 3 } }, /plugin.x: must be a table/],
];

for (const [raw, message] of BAD) {
  test(`validateConfig() refuses ${JSON.stringify(raw)} naming key and reason`, () => {
    assert.throws(() => validateConfig({ hostname: "mx.example.org", ...raw }, "test"), (error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, message);
      return true;
    });
  });
}

test("validateConfig() reads greet_pause and the command, data and write deadlines", () => {
  const defaults = validateConfig({ hostname: "mx.example.org" }, "test");
  assert.deepEqual(
    [defaults.greetPauseMs, defaults.commandTimeoutMs, defaults.dataTimeoutMs],
    [0, 300_000, 600_000],
  );
  assert.equal(defaults.writeTimeoutMs, 60_000);
  const set = validateConfig({
    hostname: "mx.example.org",
    greet_pause: 3,
    command_timeout: 60,
    data_timeout: 120,
    write_timeout: 10,
  }, "test");
  assert.deepEqual(
    [set.greetPauseMs, set.commandTimeoutMs, set.dataTimeoutMs, set.writeTimeoutMs],
    [3000, 60_000, 120_000, 10_000],
  );
  assert.throws(() => validateConfig({ greet_pause: -1 }, "test"), /greet_pause: must be 0 or/);
  assert.throws(() => validateConfig({ command_timeout: 0 }, "test"), /command_timeout: must be/);
  assert.throws(() => validateConfig({ write_timeout: 1.5 }, "test"), /write_timeout: must be/);
});

test("validateConfig() reads outbound timeouts in seconds and refuses unknown ones", () => {
  const config = validateConfig({
    hostname: "mx.test",
    client_timeouts: { connect: 10, data_end: 600 },
  }, "t");
  assert.deepEqual(config.clientTimeouts, { connect: 10_000, dataEnd: 600_000 });
  assert.throws(
    () => validateConfig({ hostname: "mx.test", client_timeouts: { nap: 1 } }, "t"),
    /client_timeouts\.nap: unknown timeout/,
  );
  assert.throws(
    () => validateConfig({ hostname: "mx.test", client_timeouts: { rcpt: 0 } }, "t"),
    /client_timeouts\.rcpt: must be a positive integer/,
  );
});

test("validateConfig() reads odmr listeners and hold_domains (RFC 2645)", () => {
  const tls = { tls_cert: "c.pem", tls_key: "k.pem", plugins: ["turn"] };
  const config = validateConfig(
    { ...tls, hostname: "mx.example.org", odmr: ["0.0.0.0:366"], hold_domains: ["Held.Example"] },
    "test",
  );
  assert.deepEqual(config.listeners.at(-1), {
    hostname: "0.0.0.0",
    port: 366,
    kind: "odmr",
    implicitTls: false,
    proxy: false,
  });
  assert.deepEqual(config.holdDomains, ["held.example"]);
  const refuse = (raw: Record<string, unknown>, message: RegExp) =>
    assert.throws(() => validateConfig({ hostname: "mx.example.org", ...raw }, "test"), message);
  refuse({ odmr: ["0.0.0.0:366"] }, /odmr: .*need tls_cert and tls_key/);
  refuse({ hold_domains: ["held.example"] }, /hold_domains: needs the turn plugin/);
  refuse({ ...tls, hold_domains: ["localhost"] }, /hold_domains: "localhost" is a local domain/);
  refuse(
    { ...tls, hold_domains: ["not a domain"] },
    /hold_domains: "not a domain" is not a domain/,
  );
});

test("validateConfig() reads log_format: text by default, json on request, nothing else", () => {
  assert.equal(validateConfig({ hostname: "mx.example.org" }, "t").logFormat, "text");
  assert.equal(
    validateConfig({ hostname: "mx.example.org", log_format: "json" }, "t").logFormat,
    "json",
  );
  assert.throws(
    () => validateConfig({ hostname: "mx.example.org", log_format: "xml" }, "postino.toml"),
    (error: unknown) =>
      error instanceof ConfigError && /log_format: must be "text" or "json"/.test(error.message),
  );
});
