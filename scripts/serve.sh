#!/usr/bin/env bash
# One command: set up and run the main job (`hivekeeper serve`) with embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh serve
exec .venv/bin/hivekeeper serve "$@"
