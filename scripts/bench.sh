#!/usr/bin/env bash
# Benchmark: Postfix smtp-source against Postino and against Postfix smtp-sink, in the same run,
# reported as a ratio (absolute figures drift by up to 35% between runs; compare within one run).
# With BENCH_HARAKA=1, Haraka with an fsynced queue is a third peer in every scenario: the baseline
# of our performance goal (Postino >= 2x Haraka's msgs/s for durable delivery).
#
#   bash scripts/bench.sh                   # Postino on Deno
#   RUNTIME=bun bash scripts/bench.sh       # Postino on Bun
#   BENCH_HARAKA=1 bash scripts/bench.sh    # ... and Haraka in the same run
#   SINK_ONLY=1 bash scripts/bench.sh       # only the smtp-sink half (harness check; Haraka too
#                                           # when BENCH_HARAKA=1)
#   MODE=relay bash scripts/bench.sh        # relay mode: Postino and a real Postfix each relay
#                                           # smtp-source's mail to smtp-sink (see below)
#
# Environment:
#   MSGS=2000        messages per run            SESSIONS=20    parallel sessions
#   SIZE=10240       message length in bytes     RUN_TIMEOUT=120 seconds allowed per smtp-source run
#   DRAIN_TIMEOUT=120 seconds to wait for Maildir delivery to finish after a Postino run
#   BENCH_FROM=a@localhost  BENCH_TO=user@localhost   KEEP=1 keeps the data dir under .bench/
#   SCENARIOS="a b"  which scenarios to run, in order (e.g. "b a" to see order effects)
#   BENCH_HARAKA=0   1 adds Haraka (needs node and npm)   HARAKA_VERSION=3.3.4 the npm version used
#   MODE=local       local (below) or relay          BENCH_POSTFIX=1  0 leaves Postfix out of MODE=relay
#
# Scenarios: (a) many messages per connection (smtp-source -d), (b) one message per connection.
# "accept msgs/s" is MSGS / wall time of smtp-source (Postino answers 250 only after the message is
# fsynced into the spool). "Maildir" checks that DIR/mail/localhost/user/new holds every message
# sent so far, waiting up to DRAIN_TIMEOUT for delivery; "e2e msgs/s" is MSGS / (time from the
# start of the run until the last file appeared).
# Haraka (BENCH_HARAKA=1) is installed once from npm into .bench/haraka-pkg (never committed) and
# configured in the run's temp dir by `haraka -i`: one process (nodes=0), 127.0.0.1 only, no DNS
# (rDNS answered by scripts/bench/haraka_no_rdns.js, no DNS-using plugins), log level warn, and
# the queue plugin scripts/bench/haraka_queue_fsync.js, which writes each message Maildir-style
# (tmp, fsync, rename into new, fsync new/) before Haraka answers 250. "haraka" is its msgs/s,
# "H new/" checks that its new/ holds every message sent so far, "P/H" is Postino's accept rate
# over Haraka's, and "e2e/H" Postino's e2e rate over Haraka's (the goal: >= 2).
#
# MODE=relay (scripts/bench/relay_mode.sh): one smtp-sink, which writes nothing and counts what it
# receives (-c), is the remote. Postino runs from a config file with relay_networks = ["127.0.0.1/32"]
# and relay_host = the sink; a real Postfix (scripts/bench/postfix_relay.sh: config, queue and data
# directories in the run's temp dir, 127.0.0.1 only, relayhost = [127.0.0.1]:sink, no DNS, stopped by
# the EXIT trap) does the same work in the same run. BENCH_TO defaults to user@remote.test. Per
# scenario, in turn: smtp-source straight to the sink, to Postino, to Postfix; "accept" is MSGS / wall
# time of smtp-source, "e2e" MSGS / (start of smtp-source until the sink had all MSGS messages, polled
# every 50 ms, up to DRAIN_TIMEOUT); the table gives both and the ratios Postino/Postfix. Needs root
# for Postfix (it runs its daemons as user postfix).
# Exit status: non-zero when a run failed or a Maildir (or, in relay mode, sink) count is wrong.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH:/usr/local/sbin:/usr/sbin:/sbin"

MSGS="${MSGS:-2000}"
SESSIONS="${SESSIONS:-20}"
SIZE="${SIZE:-10240}"
RUN_TIMEOUT="${RUN_TIMEOUT:-120}"
DRAIN_TIMEOUT="${DRAIN_TIMEOUT:-120}"
RUNTIME="${RUNTIME:-deno}"
MODE="${MODE:-local}"
case "$MODE" in
  local) TO="${BENCH_TO:-user@localhost}" ;;
  relay) TO="${BENCH_TO:-user@remote.test}" ;;
  *)
    echo "bench: MODE must be local or relay" >&2
    exit 2
    ;;
esac
FROM="${BENCH_FROM:-a@localhost}"
SINK_ONLY="${SINK_ONLY:-0}"
BENCH_HARAKA="${BENCH_HARAKA:-0}"
HARAKA_VERSION="${HARAKA_VERSION:-3.3.4}"
HARAKA_PKG="$ROOT/.bench/haraka-pkg"
read -r -a scenarios <<<"${SCENARIOS:-a b}"

for cmd in smtp-sink smtp-source python3 timeout; do
  command -v "$cmd" >/dev/null 2>&1 || {
    echo "bench: $cmd not found (see PEERS.md: apt-get install postfix, without starting it)" >&2
    exit 2
  }
done
if [[ "$BENCH_HARAKA" == 1 ]]; then
  for cmd in node npm; do
    command -v "$cmd" >/dev/null 2>&1 || {
      echo "bench: BENCH_HARAKA=1 needs $cmd" >&2
      exit 2
    }
  done
fi
case "$RUNTIME" in
  deno) postino=(deno run -A main.ts) ;;
  bun) postino=(bun main.ts) ;;
  *)
    echo "bench: RUNTIME must be deno or bun" >&2
    exit 2
    ;;
esac

mkdir -p .bench
WORK="$(mktemp -d "$ROOT/.bench/run.XXXXXX")"
DATA="$WORK/data"
MAILDIR="$DATA/mail/${TO#*@}/${TO%@*}/new"

pids=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local pid
  # MODE=relay: stop the Postfix master before its directories go.
  if declare -F postfix_relay_stop >/dev/null; then
    postfix_relay_stop || true
  fi
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ "${KEEP:-0}" == 1 ]]; then
    echo "bench: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

now() { date +%s.%N; }

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_ready PID PORT LOG [GRACE]: until LOG mentions "listening" and PORT accepts, or PORT accepts
# after GRACE polls (0.1 s each); fail if PID exits.
wait_ready() {
  local pid="$1" port="$2" log="$3" grace="${4:-20}" i
  for ((i = 0; i < 300; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: server (pid $pid) exited; its log:" >&2
      cat "$log" >&2
      return 1
    fi
    if grep -qi listening "$log" 2>/dev/null && port_open "$port"; then
      return 0
    fi
    if ((i >= grace)) && port_open "$port"; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench: server on port $port not ready after 30s; its log:" >&2
  cat "$log" >&2
  return 1
}

# count_files DIR: how many files DIR holds (0 when it does not exist).
count_files() {
  if [[ -d "$1" ]]; then
    find "$1" -maxdepth 1 -type f | wc -l
  else
    echo 0
  fi
}

maildir_count() { count_files "$MAILDIR"; }

# run_source PORT [extra smtp-source flags...]: prints the wall time in seconds; fails on error.
run_source() {
  local port="$1" t0 t1 rc
  shift
  t0="$(now)"
  set +e
  timeout "$RUN_TIMEOUT" smtp-source -4 -M localhost -f "$FROM" -t "$TO" \
    -s "$SESSIONS" -l "$SIZE" -m "$MSGS" "$@" "127.0.0.1:$port" >"$WORK/source.log" 2>&1
  rc=$?
  set -e
  t1="$(now)"
  if ((rc != 0)); then
    if ((rc == 124)); then
      echo "bench: smtp-source timed out after ${RUN_TIMEOUT}s" >&2
    else
      echo "bench: smtp-source exited $rc:" >&2
    fi
    tail -n 5 "$WORK/source.log" >&2
    return 1
  fi
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

rate() { awk -v n="$MSGS" -v s="$1" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }

# speedup A_SECONDS B_SECONDS: how many times faster A was than B (B / A), or "-".
speedup() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", b / a; else print "-" }'; }

if [[ "$MODE" == relay ]]; then
  # shellcheck source=scripts/bench/relay_mode.sh
  source scripts/bench/relay_mode.sh
  exit "$status"
fi

# --- smtp-sink ---------------------------------------------------------------------------------
SINK_PORT="$(free_port)"
sink_args=(-4 -m 1000)
if ((EUID == 0)); then
  sink_args+=(-u nobody)
fi
smtp-sink "${sink_args[@]}" "127.0.0.1:$SINK_PORT" 1024 >"$WORK/sink.log" 2>&1 &
pids+=($!)
sink_pid=$!

# --- Postino -----------------------------------------------------------------------------------
if [[ "$SINK_ONLY" != 1 ]]; then
  if [[ ! -f main.ts ]]; then
    echo "bench: main.ts does not exist yet (run with SINK_ONLY=1 for the smtp-sink half)" >&2
    exit 2
  fi
  mkdir -p "$DATA"
  "${postino[@]}" user add "$TO" --data-dir "$DATA" >"$WORK/useradd.log" 2>&1 </dev/null || {
    echo "bench: '${postino[*]} user add $TO' failed:" >&2
    cat "$WORK/useradd.log" >&2
    exit 1
  }
  POSTINO_PORT="$(free_port)"
  # The load comes from one address; a real MX sees many, and the peers have no rate limits.
  printf '[plugin.rate_limit]\nexempt = ["127.0.0.0/8"]\n' >"$WORK/postino.toml"
  "${postino[@]}" serve --config "$WORK/postino.toml" --listen "127.0.0.1:$POSTINO_PORT" \
    --data-dir "$DATA" --domain "${TO#*@}" >"$WORK/postino.log" 2>&1 </dev/null &
  pids+=($!)
  postino_pid=$!
fi

# --- Haraka with an fsynced queue (BENCH_HARAKA=1) -------------------------------------------------
haraka_installed_version() {
  node -p 'require(process.argv[1]).version' "$HARAKA_PKG/node_modules/Haraka/package.json" \
    2>/dev/null || true
}

if [[ "$BENCH_HARAKA" == 1 ]]; then
  if [[ "$(haraka_installed_version)" != "$HARAKA_VERSION" ]]; then
    echo "bench: installing Haraka@$HARAKA_VERSION into .bench/haraka-pkg (once)" >&2
    mkdir -p "$HARAKA_PKG"
    # A package.json of its own, so that npm installs there and never into the project.
    if [[ ! -f "$HARAKA_PKG/package.json" ]]; then
      echo '{ "private": true, "description": "Haraka for scripts/bench.sh, not part of Postino" }' \
        >"$HARAKA_PKG/package.json"
    fi
    (cd "$HARAKA_PKG" && timeout 600 npm i --no-audit --no-fund "Haraka@$HARAKA_VERSION") \
      >"$WORK/haraka-npm.log" 2>&1 </dev/null || {
      echo "bench: npm i Haraka@$HARAKA_VERSION failed:" >&2
      tail -n 20 "$WORK/haraka-npm.log" >&2
      exit 1
    }
  fi
  HARAKA_BIN="$HARAKA_PKG/node_modules/Haraka/bin/haraka"
  HARAKA_DIR="$WORK/haraka"
  HARAKA_MAILDIR="$WORK/haraka-maildir"
  node "$HARAKA_BIN" -i "$HARAKA_DIR" >"$WORK/haraka-init.log" 2>&1 </dev/null || {
    echo "bench: haraka -i failed:" >&2
    cat "$WORK/haraka-init.log" >&2
    exit 1
  }
  cp scripts/bench/haraka_no_rdns.js "$HARAKA_DIR/plugins/bench_no_rdns.js"
  cp scripts/bench/haraka_queue_fsync.js "$HARAKA_DIR/plugins/bench_queue_fsync.js"
  HARAKA_PORT="$(free_port)"
  # One process (nodes=0: no cluster), loopback only; public_ip is given so nothing asks STUN.
  printf 'listen=127.0.0.1:%s\nnodes=0\npublic_ip=127.0.0.1\n' "$HARAKA_PORT" \
    >"$HARAKA_DIR/config/smtp.ini"
  # Only the plugins the bench needs. Left out: everything that queries DNS (dns-list, fcrdns,
  # helo.checks, spf, mail_from.is_resolvable, ...) and the limit/toobusy plugins, which are
  # Haraka's only connection and rate limits (the core has none), so 20 sessions just work.
  printf '%s\n' bench_no_rdns rcpt_to.in_host_list bench_queue_fsync >"$HARAKA_DIR/config/plugins"
  echo "${TO#*@}" >"$HARAKA_DIR/config/host_list"
  printf '[main]\ndir=%s\n' "$HARAKA_MAILDIR" >"$HARAKA_DIR/config/bench_queue_fsync.ini"
  # warn, not the default info: no log line per message, so Haraka is not slowed by its log.
  printf '[main]\nlevel=warn\nformat=default\n' >"$HARAKA_DIR/config/log.ini"
  node "$HARAKA_BIN" -c "$HARAKA_DIR" >"$WORK/haraka.log" 2>&1 </dev/null &
  pids+=($!)
  haraka_pid=$!
fi

wait_ready "$sink_pid" "$SINK_PORT" "$WORK/sink.log" 0
if [[ "$SINK_ONLY" != 1 ]]; then
  wait_ready "$postino_pid" "$POSTINO_PORT" "$WORK/postino.log"
fi
if [[ "$BENCH_HARAKA" == 1 ]]; then
  # Haraka opens its port only once its plugins are loaded.
  wait_ready "$haraka_pid" "$HARAKA_PORT" "$WORK/haraka.log" 0
fi

target="Postino on $RUNTIME"
[[ "$SINK_ONLY" == 1 ]] && target="smtp-sink only"
[[ "$BENCH_HARAKA" == 1 ]] && target+=", Haraka $(haraka_installed_version) on node $(node --version)"
echo "bench: $MSGS msgs of $SIZE B, $SESSIONS sessions; $target; $(nproc) cores"
status=0
sent=0
haraka_sent=0
rows=()
for scenario in "${scenarios[@]}"; do
  case "$scenario" in
    a)
      label="(a) -d, many msgs/conn"
      flags=(-d)
      ;;
    b)
      label="(b) 1 msg/conn"
      flags=()
      ;;
    *)
      echo "bench: unknown scenario '$scenario' (use a or b)" >&2
      exit 2
      ;;
  esac

  if ! sink_s="$(run_source "$SINK_PORT" "${flags[@]}")"; then
    status=1
    sink_s=0
  fi
  sink_rate="$(rate "$sink_s")"

  post_rate=- ratio=- e2e=- e2e_s=0 post_s=0 check=-
  if [[ "$SINK_ONLY" != 1 ]]; then
    t_start="$(now)"
    if ! post_s="$(run_source "$POSTINO_PORT" "${flags[@]}")"; then
      status=1
      post_s=0
    fi
    post_rate="$(rate "$post_s")"
    ratio="$(speedup "$post_s" "$sink_s")"
    sent=$((sent + MSGS))

    # Wait for delivery to catch up with what was accepted.
    deadline="$(awk -v t="$(now)" -v d="$DRAIN_TIMEOUT" 'BEGIN { printf "%.3f", t + d }')"
    count="$(maildir_count)"
    while ((count < sent)) && awk -v t="$(now)" -v d="$deadline" 'BEGIN { exit !(t < d) }'; do
      sleep 0.05
      count="$(maildir_count)"
    done
    t_end="$(now)"
    if ((count == sent)); then
      check="ok $count"
      e2e_s="$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.3f", b - a }')"
      e2e="$(rate "$e2e_s")"
    else
      check="BAD $count/$sent"
      status=1
    fi
  fi
  row="$(printf '%-24s %12s %12s %8s %10s  %s' "$label" "$sink_rate" "$post_rate" "$ratio" "$e2e" "$check")"

  if [[ "$BENCH_HARAKA" == 1 ]]; then
    # Runs after Postino's Maildir has caught up, so the two never share the CPUs. Haraka answers
    # 250 only after the message is fsynced into new/, so new/ must hold every message right away.
    if ! haraka_s="$(run_source "$HARAKA_PORT" "${flags[@]}")"; then
      status=1
      haraka_s=0
    fi
    haraka_rate="$(rate "$haraka_s")"
    haraka_sent=$((haraka_sent + MSGS))
    haraka_count="$(count_files "$HARAKA_MAILDIR/new")"
    if ((haraka_count == haraka_sent)); then
      haraka_check="ok $haraka_count"
    else
      haraka_check="BAD $haraka_count/$haraka_sent"
      status=1
    fi
    row="$(printf '%-24s %12s %12s %8s %10s  %-12s %9s %6s %6s  %s' "$label" "$sink_rate" \
      "$post_rate" "$ratio" "$e2e" "$check" "$haraka_rate" "$(speedup "$post_s" "$haraka_s")" \
      "$(speedup "$e2e_s" "$haraka_s")" "$haraka_check")"
  fi
  rows+=("$row")
done

echo
if [[ "$BENCH_HARAKA" == 1 ]]; then
  printf '%-24s %12s %12s %8s %10s  %-12s %9s %6s %6s  %s\n' "scenario" "sink msgs/s" "postino" \
    "ratio" "e2e msgs/s" "Maildir" "haraka" "P/H" "e2e/H" "H new/"
else
  printf '%-24s %12s %12s %8s %10s  %s\n' "scenario" "sink msgs/s" "postino" "ratio" \
    "e2e msgs/s" "Maildir"
fi
for row in "${rows[@]}"; do
  echo "$row"
done
echo "(ratio = Postino/smtp-sink accept rate; e2e = until the last Maildir file appeared)"
if [[ "$BENCH_HARAKA" == 1 ]]; then
  echo "(haraka = Haraka msgs/s, 250 after fsync into its Maildir; P/H = Postino accept/Haraka;"
  echo " e2e/H = Postino e2e/Haraka, the durable-delivery goal is >= 2)"
fi
if ((status != 0)) && [[ "$SINK_ONLY" != 1 ]]; then
  echo "--- postino log (tail) ---"
  tail -n 20 "$WORK/postino.log"
fi
if ((status != 0)) && [[ "$BENCH_HARAKA" == 1 ]]; then
  echo "--- haraka log (tail) ---"
  tail -n 20 "$WORK/haraka.log"
fi
exit "$status"
