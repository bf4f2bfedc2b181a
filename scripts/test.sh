#!/usr/bin/env bash
# One command: set up everything the suite needs (packages, services' binaries, npm peers) and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
