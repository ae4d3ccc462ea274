#!/usr/bin/env bash
# Install Debian's Chromium, which the inbox's browser tests drive through Playwright
# (`playwright install` would download a browser; this machine's kind reaches only Debian's
# and PyPI's registries). Idempotent; instant when Chromium is present.
set -euo pipefail
# Noto Color Emoji: customers write emoji, and screenshots should show them.
command -v chromium >/dev/null && [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "browser: run as root, or: sudo apt-get install chromium fonts-dejavu-core fonts-noto-color-emoji" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  chromium fonts-dejavu-core fonts-noto-color-emoji >/dev/null
