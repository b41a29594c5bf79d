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
