#!/usr/bin/env bash
# Sets Ferry up on a fresh machine: system packages (ensure-deps.sh), pnpm through corepack at the
# version package.json pins, dependencies from the lockfile, and a build of every package.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash tooling/scripts/ensure-deps.sh

# corepack ships with Node 20-24; newer Node leaves it to npm.
if ! command -v corepack >/dev/null 2>&1; then npm install -g corepack >/dev/null; fi
export COREPACK_ENABLE_DOWNLOAD_PROMPT=0
# The registry copy this machine reaches carries no npm signatures, so corepack's key check cannot
# run; the download is still verified against the sha512 pinned in package.json's packageManager.
export COREPACK_INTEGRITY_KEYS=0
if ! corepack enable 2>/dev/null; then
  mkdir -p "$HOME/.local/bin"
  corepack enable --install-directory "$HOME/.local/bin"
  case ":$PATH:" in *":$HOME/.local/bin:"*) ;; *) echo "setup: add $HOME/.local/bin to PATH for pnpm" >&2 ;; esac
  export PATH="$HOME/.local/bin:$PATH"
fi
corepack install >/dev/null

export TURBO_TELEMETRY_DISABLED=1
pnpm install --frozen-lockfile
pnpm build
