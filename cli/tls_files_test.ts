import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadTlsFiles } from "./tls_files.ts";

function makePair(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
    "-keyout",
    key,
    "-out",
    cert,
  ], { stdio: "ignore" });
  return { cert, key };
}

test("loadTlsFiles() accepts a matching pair and refuses garbage or a key of another certificate", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tlsfiles-"));
  const a = makePair(dir, "a");
  const b = makePair(dir, "b");
  const loaded = await loadTlsFiles(a);
  assert.match(loaded.cert, /BEGIN CERTIFICATE/);
  assert.match(loaded.key, /PRIVATE KEY/);
  await assert.rejects(loadTlsFiles({ cert: a.cert, key: b.key }), /does not match/);
  const garbage = join(dir, "garbage.pem");
  writeFileSync(garbage, "not a certificate\n");
  await assert.rejects(loadTlsFiles({ cert: garbage, key: a.key }), /not a PEM certificate/);
  await assert.rejects(loadTlsFiles({ cert: a.cert, key: garbage }), /not a PEM private key/);
  await assert.rejects(
    loadTlsFiles({ cert: join(dir, "missing.pem"), key: a.key }),
    /^Error: tls_cert: cannot read \S+: .*(ENOENT|No such file)/,
  );
});
