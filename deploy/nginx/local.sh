#!/usr/bin/env bash
# Renders the gateway for nginx outside Docker (Debian's nginx-light): the template
# deploy/nginx/antre.conf with its ${ANTRE_*} filled in, inside a minimal nginx.conf
# whose pid file, logs and temporary files all live in DIR.
#
#   bash deploy/nginx/local.sh DIR LISTEN CATALOG QUEUE NOTIFY REPORTING
#
# LISTEN is what nginx listens on (8080, or 127.0.0.1:18080); the other four are the
# services' host:port. Then:
#   nginx -t -e stderr -p DIR -c DIR/nginx.conf                  (check: deploy/lint.sh)
#   nginx -e stderr -p DIR -c DIR/nginx.conf -g 'daemon off;'     (run: the system test)
set -euo pipefail

if [ "$#" -ne 6 ]; then
  echo "usage: $0 DIR LISTEN CATALOG QUEUE NOTIFY REPORTING" >&2
  exit 2
fi
dir="$1" listen="$2"
template="$(dirname "${BASH_SOURCE[0]}")/antre.conf"
compose="$(dirname "${BASH_SOURCE[0]}")/../compose.yaml"
mkdir -p "${dir}"
# nginx's workers run as an unprivileged user when the master is root: they must be able
# to enter DIR to use the temporary directories that the master makes there for them.
chmod 755 "${dir}"

if [ "$(grep -c '^    listen 8080;$' "${template}")" -ne 1 ]; then
  echo "${template}: expected exactly one line '    listen 8080;' to replace" >&2
  exit 1
fi
# 127.0.0.11 is Docker's DNS; the upstreams here are addresses, so it is never asked.
sed -e "s/^    listen 8080;\$/    listen ${listen};/" \
    -e 's/\${ANTRE_RESOLVER}/127.0.0.11/g' \
    -e "s/\${ANTRE_CATALOG_UPSTREAM}/$3/g" \
    -e "s/\${ANTRE_QUEUE_UPSTREAM}/$4/g" \
    -e "s/\${ANTRE_NOTIFY_UPSTREAM}/$5/g" \
    -e "s/\${ANTRE_REPORTING_UPSTREAM}/$6/g" \
    "${template}" > "${dir}/antre.conf"

if grep -n '\${' "${dir}/antre.conf" | grep -v '^[0-9]*: *#' >&2; then
  echo "${template}: a \${VARIABLE} that deploy/nginx/local.sh does not fill in" \
       "(add it here and to the gateway's environment in deploy/compose.yaml)" >&2
  exit 1
fi
for var in $(grep -v '^ *#' "${template}" | grep -o '\${ANTRE_[A-Z_]*}' | tr -d '${}' | sort -u); do
  if ! grep -q "^      ${var}:" "${compose}"; then
    echo "${var} is used in ${template} but not set for the gateway in deploy/compose.yaml" >&2
    exit 1
  fi
done

mime_types=/etc/nginx/mime.types
if [ ! -f "${mime_types}" ]; then
  echo "types { text/html html; text/css css; application/javascript js; }" > "${dir}/mime.types"
  mime_types="${dir}/mime.types"
fi
cat > "${dir}/nginx.conf" <<NGINX
pid ${dir}/nginx.pid;
error_log stderr warn;
worker_processes 1;
events {}
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    include ${mime_types};
    include ${dir}/antre.conf;
}
NGINX
