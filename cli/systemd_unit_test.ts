import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  checkUnitOptions,
  renderUnit,
  runSystemdUnitCommand,
  UNIT_DEFAULTS,
  type UnitOptions,
} from "./systemd_unit.ts";

/** The `Key=value` settings of a unit, comments left out, in order. */
function settings(unit: string): string[] {
  return unit.split("\n").filter((line) => /^[A-Za-z]+=/.test(line));
}

function run(args: string[]): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = runSystemdUnitCommand(args, {
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
  });
  return { code, out, err };
}

test("renderUnit() with the defaults is scripts/postino.service, byte for byte", () => {
  const file = new URL("../scripts/postino.service", import.meta.url);
  assert.equal(renderUnit(UNIT_DEFAULTS), readFileSync(file, "utf8"));
});

test("renderUnit() is a hardened Type=notify service with the brief's settings", () => {
  const lines = settings(renderUnit(UNIT_DEFAULTS));
  for (
    const want of [
      "Type=notify",
      "NotifyAccess=main",
      "ExecStart=/usr/local/bin/postino serve --config /etc/postino/postino.toml",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "User=postino",
      "Group=postino",
      "AmbientCapabilities=CAP_NET_BIND_SERVICE",
      "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "PrivateDevices=yes",
      "ReadWritePaths=/var/lib/postino",
      "StateDirectory=postino",
      "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
      "Restart=on-failure",
      "TimeoutStopSec=60s",
      "LimitNOFILE=65536",
      "WantedBy=multi-user.target",
    ]
  ) assert.ok(lines.includes(want), `missing ${want}`);
  // The JIT needs writable and executable memory (V8, JavaScriptCore).
  assert.ok(!lines.some((line) => line.startsWith("MemoryDenyWriteExecute=")));
  assert.ok(!lines.some((line) => line.startsWith("SystemCallFilter=")));
  // Every setting appears once.
  const keys = lines.map((line) => line.split("=")[0]);
  assert.deepEqual(keys, [...new Set(keys)]);
});

test("renderUnit() follows --binary, --config, --user and a data dir outside /var/lib", () => {
  const options: UnitOptions = {
    binary: "/opt/postino/bin/postino",
    config: "/srv/mail/postino.toml",
    user: "mail-server",
    dataDir: "/srv/mail/data",
  };
  const lines = settings(renderUnit(options));
  assert.ok(lines.includes(
    "ExecStart=/opt/postino/bin/postino serve --config /srv/mail/postino.toml --data-dir /srv/mail/data",
  ));
  assert.ok(lines.includes("User=mail-server"));
  assert.ok(lines.includes("Group=mail-server"));
  assert.ok(lines.includes("ReadWritePaths=/srv/mail/data"));
  assert.ok(lines.includes("WorkingDirectory=/srv/mail/data"));
  assert.ok(!lines.some((line) => line.startsWith("StateDirectory")));
  const nested = settings(renderUnit({ ...UNIT_DEFAULTS, dataDir: "/var/lib/mail/postino" }));
  assert.ok(nested.includes("StateDirectory=mail/postino"));
});

test("checkUnitOptions() refuses what a unit file would misread", () => {
  assert.equal(checkUnitOptions(UNIT_DEFAULTS), undefined);
  for (
    const binary of ["postino", "/opt/my postino", "/opt/%n", "/opt/$HOME/x", '/a"b', "/a/../b"]
  ) {
    assert.match(checkUnitOptions({ ...UNIT_DEFAULTS, binary }) ?? "", /^--binary /, binary);
  }
  assert.match(checkUnitOptions({ ...UNIT_DEFAULTS, dataDir: "data" }) ?? "", /^--data-dir /);
  assert.match(checkUnitOptions({ ...UNIT_DEFAULTS, user: "root; rm" }) ?? "", /^--user /);
});

test("runSystemdUnitCommand() prints the unit, help, or a usage error with exit 2", () => {
  const printed = run(["--user", "mail", "--data-dir", "/var/lib/postino/"]);
  assert.equal(printed.code, 0);
  assert.equal(printed.out.join("\n") + "\n", renderUnit({ ...UNIT_DEFAULTS, user: "mail" }));
  const help = run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out.join("\n"), /^Usage: postino systemd-unit/);
  const unknown = run(["--nope"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err[0] ?? "", /--nope/);
  const relative = run(["--binary", "./postino"]);
  assert.equal(relative.code, 2);
  assert.deepEqual(relative.out, []);
});
