#!/usr/bin/env bash
# Conformance run: schemathesis (v4) against a freshly started simulator, all GET operations of the contract.
# Not part of the unit suite. Usage: .ci/schemathesis.sh [extra schemathesis options, e.g. --max-examples 50]
# Exit status is schemathesis's: 0 = no check failed.
set -euo pipefail
cd "$(dirname "$0")/.."

SPEC="${LIVELLO_OPENAPI:-../shared/livello-api/openapi.yaml}"
VENV="${VENV:-.venv}"
LOG="$(mktemp -t livello-sim-XXXX.log)"

# Small world, no rate limits (schemathesis sends thousands of requests), fixed clock in the past.
"$VENV/bin/livello-sim" serve --host 127.0.0.1 --port 0 --seed 7 --kiosks 3 --days 5 \
  --now 2026-03-02T12:00:00Z --rate-limit 0 --token-rate-limit 0 >"$LOG" 2>&1 &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; rm -f "$LOG"' EXIT

BASE_URL=""
for _ in $(seq 1 600); do  # bounded: at most 60 s
  BASE_URL="$(sed -n 's/^READY //p' "$LOG" | head -n 1)"
  [ -n "$BASE_URL" ] && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$LOG"; echo "simulator exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$BASE_URL" ] || { cat "$LOG"; echo "simulator not ready within 60 s" >&2; exit 1; }

TOKEN="$("$VENV/bin/python" - "$BASE_URL" <<'PY'
import sys, httpx
r = httpx.post(sys.argv[1] + "/auth/token", timeout=10, json={
    "client_id": "lv_m2m_demo", "client_secret": "sk_live_demo", "grant_type": "client_credentials"})
r.raise_for_status()
print(r.json()["access_token"])
PY
)"

# Positive mode: valid requests per the contract, every response checked against the contract
# (schema, status code, content type, headers). Unknown-id 404s are declared, so they conform too.
"$VENV/bin/schemathesis" run "$SPEC" \
  --url "$BASE_URL" \
  --header "Authorization: Bearer $TOKEN" \
  --include-method GET \
  --mode positive \
  --checks response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance,not_a_server_error \
  --max-examples "${MAX_EXAMPLES:-100}" \
  --seed 1 \
  --request-timeout 20 \
  --suppress-health-check all \
  "$@"
