#!/usr/bin/env bash
# The one gate: `npm test` and `deno task ok` both run this script.
#
# Steps (all run, even after a failure):
#   1. deno fmt --check   2. deno lint   3. deno check (every .ts file git knows or would add)
#   4. deno test -A       5. bun test --timeout 60000
#
# The runners' output goes to the terminal and is parsed for their summaries:
#   deno: "ok | 3 passed | 0 failed (12ms)" or "FAILED | 2 passed (1 step) | 2 failed (1 step) | ..."
#         (top-level test counts; the "(N steps)" subtest counts are not added, so a describe()
#         block counts as 1 under deno while bun counts each test inside it)
#   bun:  " 3 pass" / " 0 fail" lines (load errors are already counted in "fail")
# fmt/lint/check failures count as 1 failed each, as does a runner that exits non-zero
# without reporting any failed test (crash, type-check error, no summary).
# The LAST line printed is always "N passed, N failed"; the exit status is non-zero
# when anything failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
export PATH="$ROOT/node_modules/.bin:$PATH"

passed=0
failed=0
notes=()

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

header() {
  printf '\n==> %s\n' "$*"
}

# Run a command that counts as one check (1 failure if it exits non-zero).
gate() {
  local name="$1"
  shift
  header "$name"
  if "$@" 2>&1; then
    notes+=("$name: ok")
  else
    failed=$((failed + 1))
    notes+=("$name: FAILED")
  fi
}

strip_ansi() {
  sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e 's/\r$//' "$1"
}

# Record a runner's result: name, exit code, parsed passed, parsed failed ("" when no summary).
record() {
  local name="$1" rc="$2" p="$3" f="$4"
  if [[ -z "$p" && -z "$f" ]]; then
    if [[ "$rc" -ne 0 ]]; then
      failed=$((failed + 1))
      notes+=("$name: exited $rc with no summary (counted as 1 failed)")
    else
      notes+=("$name: no tests")
    fi
    return
  fi
  p="${p:-0}"
  f="${f:-0}"
  if [[ "$rc" -ne 0 && "$f" -eq 0 ]]; then
    f=1
    notes+=("$name: exited $rc with 0 failed tests (counted as 1 failed)")
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  notes+=("$name: $p passed, $f failed")
}

# --- 1-3: format, lint, type check -------------------------------------------------------------
gate "deno fmt --check" deno fmt --check
gate "deno lint" deno lint

ts_files=()
while IFS= read -r -d '' f; do
  [[ -f "$f" ]] && ts_files+=("$f")
done < <({
  git ls-files -z -- '*.ts'
  git ls-files -z --others --exclude-standard -- '*.ts'
} | sort -zu)

if ((${#ts_files[@]} > 0)); then
  gate "deno check (${#ts_files[@]} files)" deno check "${ts_files[@]}"
else
  header "deno check"
  echo "no .ts files"
  notes+=("deno check: no files")
fi

# --- 4: deno test ------------------------------------------------------------------------------
header "deno test -A"
deno test -A --permit-no-files 2>&1 | tee "$tmp/deno.log"
rc=${PIPESTATUS[0]}
summary="$(strip_ansi "$tmp/deno.log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)"
dp="" df=""
if [[ -n "$summary" ]]; then
  dp="$(sed -nE 's/.*\| ([0-9]+) passed.*/\1/p' <<<"$summary")"
  df="$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$summary")"
fi
record "deno test" "$rc" "$dp" "$df"

# --- 5: bun test -------------------------------------------------------------------------------
header "bun test --timeout 60000"
bun test --timeout 60000 --pass-with-no-tests 2>&1 | tee "$tmp/bun.log"
rc=${PIPESTATUS[0]}
bp="$(strip_ansi "$tmp/bun.log" | awk '/^ *[0-9]+ pass$/ { n = $1 } END { print n }')"
bf="$(strip_ansi "$tmp/bun.log" | awk '/^ *[0-9]+ fail$/ { n = $1 } END { print n }')"
record "bun test" "$rc" "$bp" "$bf"

# --- totals ------------------------------------------------------------------------------------
header "summary"
for n in "${notes[@]}"; do
  echo "  $n"
done
echo "$passed passed, $failed failed"
((failed == 0))
