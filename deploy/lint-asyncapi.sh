#!/usr/bin/env bash
# Validate docs/asyncapi.yaml (or the files given) against the official AsyncAPI 3.0.0
# JSON Schema, as published by the AsyncAPI Initiative in the npm package @asyncapi/specs.
#
# The package is installed once into ${ASYNCAPI_SPECS_DIR:-.cache/asyncapi-specs} (npm
# registry only; nothing else is downloaded) and reused while it is there. Its
# schemas/3.0.0-without-$id.json is the same bundled schema as schemas/3.0.0.json with
# every reference made local, so validation needs no network. check-jsonschema must be
# on PATH (the Makefile puts .venv/bin first).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SPECS_VERSION="6.11.1"
SPECS_DIR="${ASYNCAPI_SPECS_DIR:-.cache/asyncapi-specs}"
PACKAGE="${SPECS_DIR}/node_modules/@asyncapi/specs"
SCHEMA="${PACKAGE}/schemas/3.0.0-without-\$id.json"

installed_version() {
  [ -f "${PACKAGE}/package.json" ] || return 0
  node -p 'require(process.argv[1]).version' "$(pwd)/${PACKAGE}/package.json"
}

if [ ! -f "${SCHEMA}" ] || [ "$(installed_version)" != "${SPECS_VERSION}" ]; then
  echo "npm install @asyncapi/specs@${SPECS_VERSION} into ${SPECS_DIR}"
  mkdir -p "${SPECS_DIR}"
  npm install --prefix "${SPECS_DIR}" --no-save --no-audit --no-fund --no-package-lock \
    --ignore-scripts --loglevel=error "@asyncapi/specs@${SPECS_VERSION}" >/dev/null
fi
if [ ! -f "${SCHEMA}" ]; then
  echo "no AsyncAPI 3.0.0 schema at ${SCHEMA}" >&2
  exit 1
fi

if [ "$#" -eq 0 ]; then
  set -- docs/asyncapi.yaml
fi
for document in "$@"; do
  echo "check-jsonschema (AsyncAPI 3.0.0, @asyncapi/specs ${SPECS_VERSION}) ${document}"
  if ! grep -q '^asyncapi: 3\.0\.0$' "${document}"; then
    echo "  ${document}: expected 'asyncapi: 3.0.0' (this check only knows 3.0.0)" >&2
  fi
  check-jsonschema --schemafile "${SCHEMA}" "${document}"
done
echo "ok"
