/**
 * `postino systemd-unit`: prints a systemd service unit for Postino.
 * `scripts/postino.service` is this output with the defaults, and a test
 * keeps the two equal; `scripts/install.sh` installs the output.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { LineOutput } from "./subcommands.ts";

/** What the unit can be told. */
export interface UnitOptions {
  /** Absolute path of the postino executable. */
  binary: string;
  /** Absolute path of the TOML config file. */
  config: string;
  /** The system user (and group) the server runs as. */
  user: string;
  /** The data directory: the only place the service may write. */
  dataDir: string;
}

/** The layout `scripts/install.sh` creates. */
export const UNIT_DEFAULTS: Readonly<UnitOptions> = {
  binary: "/usr/local/bin/postino",
  config: "/etc/postino/postino.toml",
  user: "postino",
  dataDir: "/var/lib/postino",
};

/** Usage of `postino systemd-unit`. */
export const SYSTEMD_UNIT_USAGE = `Usage: postino systemd-unit [options]

Prints a systemd service unit (Type=notify, hardened) on stdout.

Options:
  --binary PATH     the postino executable (default ${UNIT_DEFAULTS.binary})
  --config PATH     the config file (default ${UNIT_DEFAULTS.config})
  --user NAME       user and group to run as (default ${UNIT_DEFAULTS.user})
  --data-dir DIR    the only writable directory (default ${UNIT_DEFAULTS.dataDir})
  -h, --help        show this help`;

// Unit files give meaning to whitespace, quotes, `\`, `%` (specifiers) and
// `$` (variables); a path needing none of them is written as it is.
const PLAIN_PATH = /^\/[A-Za-z0-9._+,:@=/-]*$/;
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Checks the options; the message names the first bad one. */
export function checkUnitOptions(options: UnitOptions): string | undefined {
  for (const key of ["binary", "config", "dataDir"] as const) {
    if (!PLAIN_PATH.test(options[key]) || options[key].includes("/../")) {
      const flag = key === "dataDir" ? "--data-dir" : `--${key}`;
      return `${flag} must be an absolute path without spaces, quotes, %, $ or \\`;
    }
  }
  if (!USER_NAME.test(options.user)) return "--user must be a plain system user name";
  return undefined;
}

/**
 * The unit text.
 *
 * @example
 * ```ts
 * renderUnit(UNIT_DEFAULTS); // the text of scripts/postino.service
 * ```
 */
export function renderUnit(options: UnitOptions): string {
  const { binary, config, user, dataDir } = options;
  // The config file names data_dir too; a non-default one goes on the command
  // line as well, so the server writes exactly where the unit lets it.
  const dataFlag = dataDir === UNIT_DEFAULTS.dataDir ? "" : ` --data-dir ${dataDir}`;
  // StateDirectory= creates and chowns a directory under /var/lib/ only.
  const state = /^\/var\/lib\/([^/]+(?:\/[^/]+)*)$/.exec(dataDir)?.[1];
  return `# Postino mail server, as printed by \`postino systemd-unit\`.
# Install with scripts/install.sh, or copy to /etc/systemd/system/postino.service, then:
#   systemctl daemon-reload && systemctl enable --now postino
[Unit]
Description=Postino mail server (SMTP)
After=network-online.target
Wants=network-online.target

[Service]
# READY=1 once every listener accepts; RELOADING=1 and READY=1 around a reload.
Type=notify
NotifyAccess=main
ExecStart=${binary} serve --config ${config}${dataFlag}
# SIGHUP re-reads the config file (and TLS certificates); a bad file keeps the old one.
ExecReload=/bin/kill -HUP $MAINPID
User=${user}
Group=${user}
WorkingDirectory=${dataDir}
${state ? `StateDirectory=${state}\nStateDirectoryMode=0750\n` : ""}ReadWritePaths=${dataDir}
UMask=0027
SyslogIdentifier=postino
Restart=on-failure
RestartSec=5s
# SIGTERM: sessions get shutdown_grace (10 s by default), then the queue closes.
TimeoutStopSec=60s
LimitNOFILE=65536

# Ports 25, 465 and 587 without root.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes

# Hardening.
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
RemoveIPC=yes
# Left out on purpose:
# - MemoryDenyWriteExecute=yes: the JavaScript JIT (V8 in Deno, JavaScriptCore
#   in Bun) and bun:ffi need memory that is writable and executable.
# - SystemCallFilter=: not yet tested under both runtimes.

[Install]
WantedBy=multi-user.target
`;
}

/** Runs `postino systemd-unit ARGS`; resolves with the exit code. */
export function runSystemdUnitCommand(args: string[], io: LineOutput): number {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        binary: { type: "string", default: UNIT_DEFAULTS.binary },
        config: { type: "string", default: UNIT_DEFAULTS.config },
        user: { type: "string", default: UNIT_DEFAULTS.user },
        "data-dir": { type: "string", default: UNIT_DEFAULTS.dataDir },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.stderr(`postino systemd-unit: ${(error as Error).message.split("\n")[0]}`);
    io.stderr(SYSTEMD_UNIT_USAGE);
    return 2;
  }
  if (values.help) {
    io.stdout(SYSTEMD_UNIT_USAGE);
    return 0;
  }
  const options: UnitOptions = {
    binary: values.binary,
    config: values.config,
    user: values.user,
    dataDir: values["data-dir"].replace(/(.)\/+$/, "$1"),
  };
  const problem = checkUnitOptions(options);
  if (problem) {
    io.stderr(`postino systemd-unit: ${problem}`);
    return 2;
  }
  // io.stdout adds the final newline.
  io.stdout(renderUnit(options).replace(/\n$/, ""));
  return 0;
}
