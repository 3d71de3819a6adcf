#!/usr/bin/env bash
# Builds the single executable with `bun build --compile`; `npm run compile` and
# `deno task compile` both run this.
#
#   scripts/compile.sh [OUTFILE]      (default: ./postino in the repository)
#
# - The commit goes in with --define, so `postino version` names it
#   ("unknown" when there is no git checkout).
# - --compile-autoload-package-json: without it a plugin's bare npm imports
#   resolve only to a package's index.js; `main` and `exports` in the
#   package's package.json are ignored (checked with Bun 1.4.5).
# - No .env or bunfig.toml autoloading: a server's environment must not
#   change with the directory it is started from.
# BUN=/path/to/bun picks the bun binary; otherwise PATH, then node_modules.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$ROOT/postino}"

bun="${BUN:-}"
if [[ -z "$bun" ]]; then
  bun="$(command -v bun || true)"
  [[ -n "$bun" ]] || bun="$ROOT/node_modules/.bin/bun"
fi

commit=unknown
# Only this checkout's own .git: `git -C` would also find an enclosing repository.
if [[ -e "$ROOT/.git" ]] && command -v git >/dev/null; then
  commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi

exec "$bun" build --compile \
  --compile-autoload-package-json \
  --no-compile-autoload-dotenv \
  --no-compile-autoload-bunfig \
  --define "POSTINO_COMMIT=\"$commit\"" \
  "$ROOT/main.ts" --outfile "$out"
