#!/usr/bin/env bash
# The README's main command: set-up, then the demo (lookalike cluster, workload through the wrapper, failovers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
node scripts/demo.mjs
