# shellcheck shell=bash
# shellcheck disable=SC2154  # scenarios, postino, WORK, ... are set by scripts/bench.sh, which sources this
# MODE=relay of scripts/bench.sh, which sources this file after defining its helpers (free_port, now,
# wait_ready, run_source, rate, speedup) and its EXIT trap; it sets `status` for bench.sh to exit with.
#
# One smtp-sink is the remote for both relays. It writes nothing and counts the messages it receives
# (-c: a "... mesg=N" counter on its stdout, one record per DATA). Per scenario, one after the other so
# that they never share the CPUs:
#   sink     smtp-source straight to smtp-sink (the harness's ceiling)
#   Postino  relay_networks = ["127.0.0.1/32"], relay_host = the sink; smtp-source to Postino, then
#            wait until the sink has received all MSGS messages
#   Postfix  a real Postfix (scripts/bench/postfix_relay.sh) with relayhost = the sink, same work
# "accept" is MSGS / wall time of smtp-source; "e2e" is MSGS / (time from the start of smtp-source until
# the sink's counter showed all MSGS messages), polled every 50 ms, waiting up to DRAIN_TIMEOUT.

if [[ "$BENCH_HARAKA" == 1 ]]; then
  echo "bench: BENCH_HARAKA=1 is for MODE=local only" >&2
  exit 2
fi
BENCH_POSTFIX="${BENCH_POSTFIX:-1}"
if [[ "$BENCH_POSTFIX" == 1 ]]; then
  for cmd in postfix postconf; do
    command -v "$cmd" >/dev/null 2>&1 || {
      echo "bench: $cmd not found (apt-get install postfix; or BENCH_POSTFIX=0)" >&2
      exit 2
    }
  done
  if ((EUID != 0)); then
    echo "bench: the Postfix relay needs root (or BENCH_POSTFIX=0)" >&2
    exit 2
  fi
  # shellcheck source=scripts/bench/postfix_relay.sh
  source "$ROOT/scripts/bench/postfix_relay.sh"
fi

# Every server gets a bound too: all runs and drains, plus start-up.
SERVER_TIMEOUT=$((${#scenarios[@]} * (3 * RUN_TIMEOUT + 2 * DRAIN_TIMEOUT) + 120))

# sink_count: messages the sink has received so far (the largest mesg=N among its last records;
# a record cut in the middle can only read smaller than the one before it).
sink_count() {
  tail -c 512 "$WORK/sink.log" 2>/dev/null | tr '\r' '\n' |
    awk -F'mesg=' 'NF > 1 { n = $2 + 0; if (n > max) max = n } END { print max + 0 }'
}

# wait_sink TARGET: waits until the sink's count reaches TARGET or DRAIN_TIMEOUT passes; prints the
# count and the time it was seen.
wait_sink() {
  local target="$1" deadline count
  deadline="$(awk -v t="$(now)" -v d="$DRAIN_TIMEOUT" 'BEGIN { printf "%.3f", t + d }')"
  count="$(sink_count)"
  while ((count < target)) && awk -v t="$(now)" -v d="$deadline" 'BEGIN { exit !(t < d) }'; do
    sleep 0.05
    count="$(sink_count)"
  done
  echo "$count $(now)"
}

# relay_run PORT [smtp-source flags...]: sets r_accept_s, r_e2e_s (0 when failed) and r_check.
relay_run() {
  local port="$1" base t0 count t_end
  shift
  base="$(sink_count)"
  t0="$(now)"
  if ! r_accept_s="$(run_source "$port" "$@")"; then
    r_accept_s=0
    status=1
  fi
  read -r count t_end < <(wait_sink $((base + MSGS)))
  count=$((count - base))
  r_e2e_s=0
  if ((count == MSGS)); then
    r_check="ok"
    r_e2e_s="$(awk -v a="$t0" -v b="$t_end" 'BEGIN { printf "%.3f", b - a }')"
  else
    r_check="$count/$MSGS"
    status=1
  fi
}

chmod 755 "$WORK" # Postfix's daemons run as user postfix; its queue is under $WORK

# --- smtp-sink, the remote -----------------------------------------------------------------------
SINK_PORT="$(free_port)"
sink_args=(-4 -c -m 1000)
if ((EUID == 0)); then
  sink_args+=(-u nobody)
fi
timeout "$SERVER_TIMEOUT" smtp-sink "${sink_args[@]}" "127.0.0.1:$SINK_PORT" 1024 \
  >"$WORK/sink.log" 2>&1 </dev/null &
pids+=($!)
sink_pid=$!

# --- Postino, relaying to the sink -----------------------------------------------------------------
if [[ "$SINK_ONLY" != 1 ]]; then
  if [[ ! -f main.ts ]]; then
    echo "bench: main.ts does not exist yet (run with SINK_ONLY=1)" >&2
    exit 2
  fi
  mkdir -p "$DATA"
  POSTINO_PORT="$(free_port)"
  cat >"$WORK/postino.toml" <<EOF
hostname = "bench.localhost"
listen = ["127.0.0.1:$POSTINO_PORT"]
data_dir = "$DATA"
domains = ["localhost"]
relay_networks = ["127.0.0.1/32"]
relay_host = "127.0.0.1:$SINK_PORT"
[plugin.rate_limit]
exempt = ["127.0.0.0/8"]
EOF
  timeout "$SERVER_TIMEOUT" "${postino[@]}" serve --config "$WORK/postino.toml" \
    >"$WORK/postino.log" 2>&1 </dev/null &
  pids+=($!)
  postino_pid=$!
fi

# --- Postfix, relaying to the sink -----------------------------------------------------------------
pf_version=-
if [[ "$BENCH_POSTFIX" == 1 ]]; then
  POSTFIX_PORT="$(free_port)"
  postfix_relay_setup "$WORK/postfix" "$POSTFIX_PORT" "$SINK_PORT"
  postfix_relay_start
  pf_version="$(postconf -h -c "$WORK/postfix/etc" mail_version 2>/dev/null || echo '?')"
fi

wait_ready "$sink_pid" "$SINK_PORT" "$WORK/sink.log" 0
if [[ "$SINK_ONLY" != 1 ]]; then
  wait_ready "$postino_pid" "$POSTINO_PORT" "$WORK/postino.log"
fi
if [[ "$BENCH_POSTFIX" == 1 ]]; then
  wait_ready "$PF_MASTER_PID" "$POSTFIX_PORT" "$WORK/postfix/maillog" 0
fi

target="Postino on $RUNTIME"
[[ "$SINK_ONLY" == 1 ]] && target="no Postino"
if [[ "$BENCH_POSTFIX" == 1 ]]; then
  target+=" vs Postfix $pf_version"
fi
echo "bench: relay mode, $MSGS msgs of $SIZE B to $TO, $SESSIONS sessions; $target;" \
  "smtp-sink as the remote; $(nproc) cores"
status=0
rows=()
fmt='%-24s %7s %8s %8s %8s %8s %6s %9s  %s'
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

  relay_run "$SINK_PORT" "${flags[@]}"
  sink_rate="$(rate "$r_accept_s")"
  checks="sink $r_check"

  p_acc=- p_e2e=- p_acc_s=0 p_e2e_s=0
  if [[ "$SINK_ONLY" != 1 ]]; then
    relay_run "$POSTINO_PORT" "${flags[@]}"
    p_acc_s="$r_accept_s" p_e2e_s="$r_e2e_s"
    p_acc="$(rate "$p_acc_s")" p_e2e="$(rate "$p_e2e_s")"
    checks+=", postino $r_check"
  fi

  f_acc=- f_e2e=- f_acc_s=0 f_e2e_s=0
  if [[ "$BENCH_POSTFIX" == 1 ]]; then
    relay_run "$POSTFIX_PORT" "${flags[@]}"
    f_acc_s="$r_accept_s" f_e2e_s="$r_e2e_s"
    f_acc="$(rate "$f_acc_s")" f_e2e="$(rate "$f_e2e_s")"
    checks+=", postfix $r_check"
  fi
  # shellcheck disable=SC2059  # the format is ours
  rows+=("$(printf "$fmt" "$label" "$sink_rate" "$p_acc" "$p_e2e" "$f_acc" "$f_e2e" \
    "$(speedup "$p_acc_s" "$f_acc_s")" "$(speedup "$p_e2e_s" "$f_e2e_s")" "$checks")")
done

echo
# shellcheck disable=SC2059
printf "$fmt\n" "scenario" "sink" "postino" "P e2e" "postfix" "PF e2e" "P/PF" "e2e P/PF" "sink got"
for row in "${rows[@]}"; do
  echo "$row"
done
echo "(msgs/s. sink = smtp-source straight to smtp-sink; postino, postfix = accept rate (smtp-source"
echo " wall time); e2e = until smtp-sink had received every message; P/PF = Postino/Postfix accept,"
echo " e2e P/PF = Postino/Postfix end to end; \"sink got\" = ok, or how many of MSGS reached the sink)"
if ((status != 0)) && [[ "$SINK_ONLY" != 1 ]]; then
  echo "--- postino log (tail) ---"
  tail -n 20 "$WORK/postino.log"
fi
if ((status != 0)) && [[ "$BENCH_POSTFIX" == 1 ]]; then
  echo "--- postfix log (tail) ---"
  postfix_relay_log_tail 20
fi
