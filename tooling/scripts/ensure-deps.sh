#!/usr/bin/env bash
# Installs what Ferry's tests drive and is missing here: Debian's redis-server and redis-tools,
# nutcracker (twemproxy), postgresql, and chromium (the web console's end-to-end tests). As root it uses apt-get; otherwise it prints exactly what
# to install. It never leaves the Debian services running on their default ports (6379, 22121, 5432):
# the tests start their own servers on free loopback ports.
set -euo pipefail

node_ok() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null
}
if ! command -v node >/dev/null 2>&1 || ! node_ok; then
  echo "ensure-deps: Node.js >= 20.19 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; }
have_pg() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || { command -v initdb >/dev/null 2>&1 && command -v createdb >/dev/null 2>&1; } || [ -n "${FERRY_PG_BIN:-}" ]; }

missing=()
[ -n "${FERRY_REDIS_SERVER:-}" ] || have redis-server || missing+=(redis-server)
[ -n "${FERRY_REDIS_CLI:-}" ] || have redis-cli || missing+=(redis-tools)
[ -n "${FERRY_NUTCRACKER:-}" ] || have nutcracker || missing+=(nutcracker)
have_pg || missing+=(postgresql)
[ -n "${FERRY_CHROMIUM:-}" ] || have chromium || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
  echo "ensure-deps: redis-server, redis-cli, nutcracker, PostgreSQL and Chromium are present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-deps: missing ${missing[*]}. Install them, e.g. on Debian/Ubuntu:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "and stop the services they start (the tests use their own ports), or point FERRY_REDIS_SERVER," >&2
  echo "FERRY_REDIS_CLI, FERRY_NUTCRACKER, FERRY_PG_BIN and FERRY_CHROMIUM at other builds." >&2
  exit 1
fi

echo "ensure-deps: installing ${missing[*]}"
# Keep Debian from starting the packaged services: a policy-rc.d that denies every start.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Belt and braces, for systems whose service manager ignores policy-rc.d.
for svc in redis-server nutcracker postgresql; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
echo "ensure-deps: done"
