#!/usr/bin/env bash
# The test command of README.md: set-up, then every test file against real servers. Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node test/run.mjs "$@"
