#!/usr/bin/env bash
# Static checks of the deployment files. No Docker engine needed.
# Expects hadolint and check-jsonschema on PATH (the Makefile puts .venv/bin first).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "hadolint deploy/Dockerfile"
hadolint deploy/Dockerfile

echo "check-jsonschema (compose-spec) deploy/compose.yaml"
check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

echo "deploy/.env.example documents every variable of deploy/compose.yaml"
missing=0
while read -r var; do
  if ! grep -q "^${var}=" deploy/.env.example; then
    echo "  missing in deploy/.env.example: ${var}" >&2
    missing=1
  fi
done < <(grep -o '\${[A-Za-z_][A-Za-z0-9_]*' deploy/compose.yaml | cut -c3- | sort -u)
if [ "${missing}" -ne 0 ]; then
  exit 1
fi
echo "ok"

# The gateway's nginx config (a template of the official image: ${ANTRE_*} are filled in
# from the gateway's environment). Compose names do not resolve here, so the check runs
# on the copy that deploy/nginx/local.sh renders with 127.0.0.1 upstreams, the same copy
# the system test runs (tests/system/test_hall_in_production.py).
echo "nginx -t deploy/nginx/antre.conf"
if ! command -v nginx >/dev/null 2>&1; then
  echo "skipped: nginx not installed (apt-get install nginx-light to check the gateway config)"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "${tmp}"' EXIT
  # One upstream per service of services/registry.py, in its order, on its development port.
  read -r -a upstreams < <(python -c 'from services import registry
print(" ".join(f"127.0.0.1:{e.port}" for e in registry.SERVICES))')
  bash deploy/nginx/local.sh "${tmp}" 8080 "${upstreams[@]}"
  nginx -t -q -e stderr -p "${tmp}" -c "${tmp}/nginx.conf"
  echo "ok"
fi
