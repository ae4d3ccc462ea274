#!/usr/bin/env bash
# Install what tests/deploy/ needs: the wheels of requirements.txt into the venv, promtool
# (Debian's prometheus package) and systemd-analyze. Idempotent; a few seconds when present.
# Usage: deploy/tools/install.sh [VENV_BIN]   (default .venv/bin)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-.venv/bin}

"$bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v systemd-analyze >/dev/null || missing+=(systemd)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deploy tools: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
# We want promtool, not a Prometheus server: keep the package from starting its service.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
fi
trap 'if [ -n "$made_policy" ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
