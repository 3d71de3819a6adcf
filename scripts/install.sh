#!/usr/bin/env bash
# Installs Postino as a systemd service:
#
#   sudo scripts/install.sh [--binary ./postino] [--prefix /usr/local] [--root DIR]
#
# 1. the `postino` system user and group, if missing (useradd --system);
# 2. the binary, as PREFIX/bin/postino;
# 3. /etc/postino/postino.toml, a starting config, only if there is none yet;
# 4. /var/lib/postino, owned by postino, mode 0750;
# 5. /etc/systemd/system/postino.service, printed by `postino systemd-unit`;
# 6. `systemctl daemon-reload`, when systemd is running.
#
# --root DIR (or DESTDIR=DIR) installs into DIR instead of /, for packaging
# and tests: no user is created, nothing is chowned, systemctl is not run.
# Running it again upgrades the binary and the unit and keeps the config.
set -euo pipefail

usage() {
  sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
  echo "install.sh: $*" >&2
  exit 2
}

binary=./postino
prefix=/usr/local
root="${DESTDIR:-}"
while (($# > 0)); do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --root | --destdir) root="${2:?$1 needs a directory}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
root="${root%/}"

[[ -f "$binary" && -x "$binary" ]] || die "no executable at $binary (build it: npm run compile)"
[[ "$prefix" == /* ]] || die "--prefix must be an absolute path"
if [[ -z "$root" && "$(id -u)" -ne 0 ]]; then
  die "run as root (or use --root DIR to install into a staging directory)"
fi

user=postino
bin="$prefix/bin/postino"
etc=/etc/postino
config="$etc/postino.toml"
data=/var/lib/postino
unit=/etc/systemd/system/postino.service

# 1. The system user: no login, home at the data directory.
if [[ -z "$root" ]]; then
  if ! getent passwd "$user" >/dev/null; then
    nologin="$(command -v nologin || echo /usr/sbin/nologin)"
    useradd --system --user-group --home-dir "$data" --no-create-home --shell "$nologin" "$user"
    echo "created system user $user"
  fi
fi

# 2. The binary (a temporary name, then rename: a running server keeps its file).
install -d -m 0755 "$root$prefix/bin"
install -m 0755 "$binary" "$root$bin.new"
mv -f "$root$bin.new" "$root$bin"
echo "installed $root$bin"

# 3. The config, only if absent: an admin's edits are never overwritten.
install -d -m 0755 "$root$etc"
if [[ -e "$root$config" ]]; then
  echo "kept $root$config"
else
  (
    umask 027
    cat >"$root$config" <<'TOML'
# Postino's configuration. Every setting: see the README's "Configuration".
# After editing: systemctl reload postino (a bad file is refused and logged).

# The name in the greeting and Received: headers (default: this machine's name).
# hostname = "mx.example.org"

# The domains whose mail is delivered here.
domains = ["localhost"]

# Port 25: mail from the world. Ports 465 and 587 need a certificate.
listen = ["0.0.0.0:25"]
# tls_cert = "/etc/postino/fullchain.pem"
# tls_key = "/etc/postino/privkey.pem"
# submission = ["0.0.0.0:587"]   # STARTTLS, then AUTH before MAIL
# tls_listen = ["0.0.0.0:465"]   # implicit TLS

# The only directory the service may write (the unit's ReadWritePaths).
data_dir = "/var/lib/postino"

# "json" for one JSON object per line; text lines leave the time to journald.
log_format = "text"

# Clients that may relay to other domains (never an open relay).
relay_networks = []
TOML
  )
  [[ -z "$root" ]] && chown "root:$user" "$root$config"
  chmod 0640 "$root$config"
  echo "wrote $root$config"
fi

# 4. The data directory.
install -d -m 0750 "$root$data"
[[ -z "$root" ]] && chown "$user:$user" "$root$data"
echo "prepared $root$data"

# 5. The unit, from the binary itself, so it matches the version installed.
install -d -m 0755 "$root$(dirname "$unit")"
"$root$bin" systemd-unit --binary "$bin" --config "$config" --user "$user" --data-dir "$data" \
  >"$root$unit.new"
chmod 0644 "$root$unit.new"
mv -f "$root$unit.new" "$root$unit"
echo "installed $root$unit"

if ! "$root$bin" check-config --config "$root$config" >/dev/null; then
  echo "install.sh: warning: $root$config does not pass check-config; fix it before starting" >&2
fi

# 6. Only a system booted with systemd has /run/systemd/system (sd_booted(3)).
if [[ -z "$root" && -d /run/systemd/system ]]; then
  systemctl daemon-reload
  echo "next: edit $config, then: systemctl enable --now postino"
else
  echo "next: edit $root$config; start with: systemctl enable --now postino"
fi
