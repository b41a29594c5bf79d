#!/usr/bin/env bash
# `make run`: every service (or the named ones) with `nameko run` on the local RabbitMQ,
# behind the local nginx gateway on one address (http://localhost:8080/), with development
# secrets in .run/dev-secrets.env and a first admin login printed at start. Ctrl-C (or
# SIGTERM) stops them all. The work is done by antre_devtools/devrun.py; docs/development.md
# says what it starts and which settings change it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" -m antre_devtools.devrun "$@"
