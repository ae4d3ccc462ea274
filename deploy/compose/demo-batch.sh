#!/bin/sh
# The compose demo service: the demo company (created on the first run), a fresh API key for
# it, then a batch sent through api -> worker -> fake provider -> webhooks, shown until `read`.
# Exits non-zero unless every message reached `read`, so it doubles as the stack's smoke test.
set -eu

json_field() {  # the image has Python, not jq
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

company=$(wapipe channels list --json | python3 -c '
import json, sys
print(next((c["company_id"] for c in json.load(sys.stdin)
            if c["phone_number_id"] == sys.argv[1]), ""))' "$DEMO_PHONE_NUMBER_ID")

if [ -z "$company" ]; then
  # The token comes from WAPIPE_ACCESS_TOKEN (the fake's demo token), never from argv.
  key=$(wapipe company create --name "Demo Company" --phone-number-id "$DEMO_PHONE_NUMBER_ID" \
          --display-phone-number 15550009999 --json | json_field api_key)
else
  key=$(wapipe keys create --company "$company" --reason "compose demo" --json | json_field api_key)
fi

exec wapipe demo --api-url "${WAPIPE_API_URL:-http://api:8000}" --api-key "$key" --count "${DEMO_COUNT:-5}"
