#!/usr/bin/env bash
# Runs the named services (default: all) with `nameko run`, each in its own process,
# against the local RabbitMQ. Ctrl-C (or SIGTERM) stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."

services=("$@")
[ ${#services[@]} -gt 0 ] || services=(catalog queue notify reporting)

if [[ "${MONGO_URL:-mongomock://}" == mongomock://* ]]; then
  cat >&2 <<'WARN'
**********************************************************************
* MONGO_URL is not set to a MongoDB server: every service keeps its  *
* data IN MEMORY and loses it when it stops. Set MONGO_URL, e.g.     *
*   MONGO_URL=mongodb://localhost:27017/ make run                    *
**********************************************************************
WARN
fi

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop INT TERM EXIT

# The nameko service class of each service.
declare -A classes=([catalog]=CatalogService [queue]=QueueService [notify]=NotifyService
                    [reporting]=ReportingService)

for service in "${services[@]}"; do
  nameko run --config "deploy/config/${service}.yaml" \
    "services.${service}.service:${classes[$service]}" \
    2>&1 | sed -u "s/^/[${service}] /" &
  pids+=($!)
done
echo "Started: ${services[*]} (Ctrl-C stops all)" >&2
wait -n || true
