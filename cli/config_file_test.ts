import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, validateConfig } from "../core/config.ts";
import { mergeFlags, readConfigFile } from "./config_file.ts";

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "cfg-")), "postino.toml");
  writeFileSync(path, text);
  return path;
}

test("readConfigFile() parses TOML with plugin tables", async () => {
  const raw = await readConfigFile(file(`
hostname = "mx.example.org"
domains = ["example.org"]
max_recipients = 500
plugins = ["block_senders"]
[plugin.block_senders]
domains = ["spam.example"]
`));
  assert.deepEqual(raw, {
    hostname: "mx.example.org",
    domains: ["example.org"],
    max_recipients: 500,
    plugins: ["block_senders"],
    plugin: { block_senders: { domains: ["spam.example"] } },
  });
});

test("readConfigFile() names the file on a syntax error or a missing file", async () => {
  const bad = file("hostname = \n");
  await assert.rejects(
    readConfigFile(bad),
    (e) => e instanceof ConfigError && e.message.startsWith(`${bad}: syntax:`),
  );
  await assert.rejects(readConfigFile("/nonexistent/x.toml"), /\/nonexistent\/x.toml: file:/);
});

test("mergeFlags() lets flags win over the file", () => {
  const merged = mergeFlags(
    { domains: ["a.example"], listen: ["127.0.0.1:25"], verbose: false },
    { domain: ["b.example"], "data-dir": "/d", "max-message-size": "1000", verbose: true },
  );
  const config = validateConfig({ ...merged, hostname: "mx.test" }, "test");
  assert.deepEqual(config.domains, ["b.example"]);
  assert.deepEqual(config.listen, [{ hostname: "127.0.0.1", port: 25 }]);
  assert.equal(config.dataDir, "/d");
  assert.equal(config.maxMessageSize, 1000);
  assert.equal(config.verbose, true);
  assert.throws(() => mergeFlags({}, { "max-message-size": "10MB" }), /--max-message-size/);
});
