#!/usr/bin/env bash
# Installs what hivekeeper needs on a fresh Debian machine, idempotently and quickly on a warm one.
#   scripts/setup.sh serve   -> sandbox tools + the package in .venv
#   scripts/setup.sh test    -> the above + services, browsers and MCP peers the test suite runs for real
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-serve}"

apt_serve=(bubblewrap nftables iproute2 ca-certificates git)
apt_test=(docker.io podman postgresql redis-server chromium busybox-static debootstrap)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
wanted=("${apt_serve[@]}")
[ "$profile" = test ] && wanted+=("${apt_test[@]}")
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
target="."
[ "$profile" = test ] && target=".[dev]"
digest="$(sha256sum pyproject.toml | cut -c1-16)"
stamp=".venv/.hivekeeper-$profile-$digest"
# a test install (the package plus its dev extras) also serves `serve`
if [ ! -f "$stamp" ] && ! { [ "$profile" = serve ] && [ -f ".venv/.hivekeeper-test-$digest" ]; }; then
  echo "setup: installing hivekeeper ($target) into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e "$target"
  find .venv -maxdepth 1 -name ".hivekeeper-*" ! -name "*-$digest" -delete
  touch "$stamp"
fi
# An editable install leaves our own modules uncompiled, and where PYTHONDONTWRITEBYTECODE is set every
# `hivekeeper` start would compile them again (~0.1 s); compileall skips what is already up to date.
.venv/bin/python -m compileall -q src/hivekeeper >/dev/null

if [ "$profile" = test ] && [ -f tests/tools/package.json ]; then
  npm_stamp=".tools/npm/.stamp-$(sha256sum tests/tools/package.json | cut -c1-16)"
  if [ ! -f "$npm_stamp" ]; then
    echo "setup: installing npm test tools into .tools/npm"
    mkdir -p .tools/npm
    cp tests/tools/package.json .tools/npm/package.json
    (cd .tools/npm && npm install --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$npm_stamp"
  fi
fi
