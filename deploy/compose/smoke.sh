#!/usr/bin/env bash
# Opt-in (`make compose-smoke`), for a machine with a Docker engine that can pull postgres,
# redis and python images: build the image, bring the demo stack up from nothing (fresh
# volumes), and require the demo batch to reach `read` through it. Tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
docker info >/dev/null 2>&1 || { echo "compose smoke: no Docker engine here" >&2; exit 1; }

compose=(docker compose -p wapipe-smoke -f docker-compose.yml --profile demo)
trap '"${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true' EXIT

"${compose[@]}" build
# --wait: until postgres, redis, api, worker and the fake are healthy (migrate has exited 0).
"${compose[@]}" up --detach --wait api worker fakeprovider
# The demo service exits 0 only if every message of its batch reached `read`.
"${compose[@]}" run --rm demo
echo "compose smoke: the stack came up healthy and the demo batch reached read"
