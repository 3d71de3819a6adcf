# shellcheck shell=bash
# A real Postfix relay for `MODE=relay bash scripts/bench.sh`, sourced by scripts/bench/relay_mode.sh.
# Its config, queue and data directories all live under one directory of the run's temp dir: the
# system's /etc/postfix and /var/spool/postfix are never read for settings nor written. It listens on
# 127.0.0.1 only, relays through a relayhost given as an IP address (no DNS anywhere), and is stopped
# by `postfix -c DIR stop`, then by its master's PID, from the bench's EXIT trap (postfix_relay_stop).
#
#   postfix_relay_setup DIR LISTEN_PORT RELAYHOST_PORT   writes DIR/etc/{main,master}.cf, creates the
#                                                        queue (postfix check) with the right owners
#   postfix_relay_start                                  starts the master; sets PF_MASTER_PID
#   postfix_relay_stop                                   stops it; safe to call at any time, repeatedly
#   postfix_relay_log_tail [N]                           the last N lines of its log (DIR/maillog)

PF_DIR=""
PF_MASTER_PID=""

# pf_alive PID: PID exists and is not a zombie (the machine's PID 1 may not reap orphans).
pf_alive() {
  local state
  [[ -r "/proc/$1/stat" ]] || return 1
  state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

postfix_relay_setup() {
  local dir="$1" port="$2" relay_port="$3"
  PF_DIR="$dir"
  mkdir -p "$dir/etc" "$dir/spool" "$dir/data"
  # data_directory belongs to mail_owner; queue_directory to root (postfix check creates its
  # subdirectories with their owners from the system's postfix-files).
  chown postfix: "$dir/data"
  cat >"$dir/etc/main.cf" <<EOF
# Written by scripts/bench/postfix_relay.sh for one bench run; removed with the run.
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
myhostname = bench.localhost
mydomain = localhost
myorigin = \$myhostname
# Nothing is local: every recipient is relayed.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
# The same relay right as Postino's relay_networks = ["127.0.0.1/32"] (permit_mynetworks in the
# default smtpd_relay_restrictions), and remote.test as a relay domain.
mynetworks = 127.0.0.0/8
relay_domains = remote.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
relayhost = [127.0.0.1]:$relay_port
# No DNS lookups anywhere: the relayhost is an IP address in brackets, and smtpd does not look up
# the client's name.
smtp_host_lookup = native
lmtp_host_lookup = native
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
default_process_limit = 100
biff = no
append_dot_mydomain = no
# No syslog daemon here: Postfix logs to a file of its own.
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
EOF
  # Debian's master.cf without chroot (a chroot would need copies of /etc files in the queue) and
  # with the smtpd on 127.0.0.1:PORT instead of *:25. No tlsmgr: TLS is not used.
  cat >"$dir/etc/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup     unix  n - n 60    1 pickup
cleanup    unix  n - n -     0 cleanup
qmgr       unix  n - n 300   1 qmgr
rewrite    unix  - - n -     - trivial-rewrite
bounce     unix  - - n -     0 bounce
defer      unix  - - n -     0 bounce
trace      unix  - - n -     0 bounce
verify     unix  - - n -     1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -     - proxymap
proxywrite unix  - - n -     1 proxymap
smtp       unix  - - n -     - smtp
relay      unix  - - n -     - smtp
showq      unix  n - n -     - showq
error      unix  - - n -     - error
retry      unix  - - n -     - error
discard    unix  - - n -     - discard
local      unix  - n n -     - local
anvil      unix  - - n -     1 anvil
scache     unix  - - n -     1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
  if ! timeout 60 postfix -c "$dir/etc" check >"$dir/check.log" 2>&1 </dev/null; then
    echo "bench: 'postfix -c $dir/etc check' failed:" >&2
    cat "$dir/check.log" >&2
    postfix_relay_log_tail 20 >&2
    return 1
  fi
}

postfix_relay_start() {
  local i
  if ! timeout 60 postfix -c "$PF_DIR/etc" start >"$PF_DIR/start.log" 2>&1 </dev/null; then
    echo "bench: 'postfix -c $PF_DIR/etc start' failed:" >&2
    cat "$PF_DIR/start.log" >&2
    postfix_relay_log_tail 20 >&2
    return 1
  fi
  for ((i = 0; i < 100; i++)); do
    if [[ -s "$PF_DIR/spool/pid/master.pid" ]]; then
      PF_MASTER_PID="$(tr -dc 0-9 <"$PF_DIR/spool/pid/master.pid")"
      [[ -n "$PF_MASTER_PID" ]] && return 0
    fi
    sleep 0.1
  done
  echo "bench: Postfix started but wrote no master.pid" >&2
  return 1
}

postfix_relay_stop() {
  local i
  [[ -n "$PF_DIR" && -f "$PF_DIR/etc/main.cf" ]] || return 0
  if [[ -z "$PF_MASTER_PID" && -s "$PF_DIR/spool/pid/master.pid" ]]; then
    PF_MASTER_PID="$(tr -dc 0-9 <"$PF_DIR/spool/pid/master.pid")"
  fi
  [[ -n "$PF_MASTER_PID" ]] || return 0
  if pf_alive "$PF_MASTER_PID"; then
    timeout 30 postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1 </dev/null || true
    for ((i = 0; i < 100; i++)); do
      pf_alive "$PF_MASTER_PID" || break
      sleep 0.1
    done
    # Only if it is still our master (same PID, a Postfix master binary).
    if pf_alive "$PF_MASTER_PID" &&
      grep -q 'master' "/proc/$PF_MASTER_PID/cmdline" 2>/dev/null; then
      echo "bench: Postfix master $PF_MASTER_PID ignored 'postfix stop'; killing it" >&2
      kill -KILL "$PF_MASTER_PID" 2>/dev/null || true
    fi
  fi
  PF_MASTER_PID=""
}

postfix_relay_log_tail() {
  [[ -n "$PF_DIR" && -f "$PF_DIR/maillog" ]] && tail -n "${1:-20}" "$PF_DIR/maillog"
  return 0
}
