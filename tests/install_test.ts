/**
 * The service files, run as an admin runs them: `postino systemd-unit`
 * checked by `systemd-analyze verify`, and `scripts/install.sh` installing
 * into a temporary root (no user created, nothing chowned, no systemctl).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { postino, postinoCommand, ROOT, tempDir } from "./helpers/server.ts";

const TIMEOUT = { timeout: 60_000 };
const SYSTEMD_ANALYZE = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find(existsSync);
const SERVICE = readFileSync(join(ROOT, "scripts", "postino.service"), "utf8");

/** An executable `postino` that runs this checkout on the test's runtime. */
function postinoWrapper(dir: string): string {
  const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;
  const path = join(dir, "postino");
  writeFileSync(path, `#!/bin/sh\nexec ${postinoCommand().map(quote).join(" ")} "$@"\n`, {
    mode: 0o755,
  });
  return path;
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

test("postino systemd-unit prints scripts/postino.service", TIMEOUT, async () => {
  const result = await postino(["systemd-unit"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, SERVICE);
});

test(
  "systemd-analyze verify accepts the unit, and fails it for a missing binary",
  { ...TIMEOUT, skip: SYSTEMD_ANALYZE === undefined && "systemd-analyze is not installed" },
  async () => {
    const dir = tempDir("postino-unit-");
    const verify = async (binary: string) => {
      const unit = await postino(["systemd-unit", "--binary", binary]);
      assert.equal(unit.code, 0, unit.stderr);
      const file = join(dir, "postino.service");
      writeFileSync(file, unit.stdout);
      // --man=no: no man pages to look up for Documentation= offline.
      return spawnSync(SYSTEMD_ANALYZE as string, ["verify", "--man=no", file], {
        cwd: dir,
        encoding: "utf8",
      });
    };
    // Any executable will do for ExecStart; verify checks that it exists.
    const ok = await verify(postinoWrapper(dir));
    assert.equal(ok.status, 0, ok.stderr);
    // Warnings (an unknown key, a bad value) name the file; there must be none.
    assert.doesNotMatch(ok.stderr, /postino\.service/, ok.stderr);
    const missing = await verify("/nonexistent/postino");
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /\/nonexistent\/postino/);
  },
);

test(
  "install.sh --root installs binary, config, data dir and unit, and keeps an edited config",
  TIMEOUT,
  async () => {
    const dir = tempDir("postino-install-");
    const binary = postinoWrapper(dir);
    const root = join(dir, "root");
    const install = () =>
      execFileSync("bash", [
        join(ROOT, "scripts", "install.sh"),
        "--binary",
        binary,
        "--root",
        root,
      ], {
        encoding: "utf8",
        env: { ...process.env, DESTDIR: "" },
      });
    const first = install();
    assert.match(first, /wrote .*\/etc\/postino\/postino\.toml/);
    const bin = join(root, "usr", "local", "bin", "postino");
    const config = join(root, "etc", "postino", "postino.toml");
    const data = join(root, "var", "lib", "postino");
    const unit = join(root, "etc", "systemd", "system", "postino.service");
    assert.equal(readFileSync(bin, "utf8"), readFileSync(binary, "utf8"));
    assert.equal(mode(bin), "755");
    assert.equal(mode(config), "640");
    assert.ok(statSync(data).isDirectory());
    assert.equal(mode(data), "750");
    assert.equal(readFileSync(unit, "utf8"), SERVICE);
    assert.equal(mode(unit), "644");

    // The starting config is valid, and says where the unit lets the server write.
    const text = readFileSync(config, "utf8");
    assert.match(text, /^data_dir = "\/var\/lib\/postino"$/m);
    assert.match(text, /^listen = \["0\.0\.0\.0:25"\]$/m);
    assert.match(text, /^# submission = \["0\.0\.0\.0:587"\]/m);
    assert.match(text, /^# tls_listen = \["0\.0\.0\.0:465"\]/m);
    const checked = await postino(["check-config", "--config", config]);
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /^config ok: 1 listener\(s\), domains localhost/);

    // Again, after an edit: the binary and unit are replaced, the config is kept.
    writeFileSync(config, text + '\nhostname = "mx.example.org"\n');
    const second = install();
    assert.match(second, /kept .*postino\.toml/);
    assert.match(readFileSync(config, "utf8"), /hostname = "mx\.example\.org"/);
    assert.equal(readFileSync(unit, "utf8"), SERVICE);
    assert.ok(!existsSync(`${bin}.new`) && !existsSync(`${unit}.new`));
  },
);

test("install.sh refuses a missing binary and unknown options with exit 2", TIMEOUT, () => {
  const root = tempDir("postino-install-");
  for (
    const args of [["--binary", join(root, "absent"), "--root", root], ["--bogus", "--root", root]]
  ) {
    const result = spawnSync("bash", [join(ROOT, "scripts", "install.sh"), ...args], {
      encoding: "utf8",
    });
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /install\.sh: /);
  }
  assert.ok(!existsSync(join(root, "usr")));
});
