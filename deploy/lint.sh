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
# from the gateway's environment). Compose names do not resolve here, so the test runs
# on a copy with 127.0.0.1 upstreams, inside a minimal nginx.conf of its own.
echo "nginx -t deploy/nginx/antre.conf"
if ! command -v nginx >/dev/null 2>&1; then
  echo "skipped: nginx not installed (apt-get install nginx-light to check the gateway config)"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "${tmp}"' EXIT
  sed -e 's/\${ANTRE_RESOLVER}/127.0.0.11/g' \
      -e 's/\${ANTRE_CATALOG_UPSTREAM}/127.0.0.1:8001/g' \
      -e 's/\${ANTRE_QUEUE_UPSTREAM}/127.0.0.1:8002/g' \
      -e 's/\${ANTRE_NOTIFY_UPSTREAM}/127.0.0.1:8003/g' \
      -e 's/\${ANTRE_REPORTING_UPSTREAM}/127.0.0.1:8004/g' \
      deploy/nginx/antre.conf > "${tmp}/antre.conf"
  if grep -n '\${' "${tmp}/antre.conf" | grep -v '^[0-9]*: *#' >&2; then
    echo "  deploy/nginx/antre.conf: a \${VARIABLE} that deploy/lint.sh does not fill in (add it here and to the gateway's environment)" >&2
    exit 1
  fi
  for var in $(grep -v '^ *#' deploy/nginx/antre.conf | grep -o '\${ANTRE_[A-Z_]*}' | tr -d '${}' | sort -u); do
    if ! grep -q "^      ${var}:" deploy/compose.yaml; then
      echo "  ${var} is used in deploy/nginx/antre.conf but not set for the gateway in deploy/compose.yaml" >&2
      exit 1
    fi
  done
  mime_types=/etc/nginx/mime.types
  [ -f "${mime_types}" ] || { echo "types { text/html html; }" > "${tmp}/mime.types"; mime_types="${tmp}/mime.types"; }
  cat > "${tmp}/nginx.conf" <<NGINX
pid ${tmp}/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    client_body_temp_path ${tmp}/client_body;
    proxy_temp_path ${tmp}/proxy;
    fastcgi_temp_path ${tmp}/fastcgi;
    uwsgi_temp_path ${tmp}/uwsgi;
    scgi_temp_path ${tmp}/scgi;
    include ${mime_types};
    include ${tmp}/antre.conf;
}
NGINX
  nginx -t -q -e stderr -p "${tmp}" -c "${tmp}/nginx.conf"
  echo "ok"
fi
