#!/usr/bin/env bash
# The distributed mode on this machine: migrations, then the gateway, the contacts service and
# its outbox relay as separate processes against MOSAIC_DATABASE_URL and MOSAIC_AMQP_URI.
# Ctrl-C (or SIGTERM) stops the three processes this script started, and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
export MOSAIC_MODE=distributed
export MOSAIC_SECRET_KEY="${MOSAIC_SECRET_KEY:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')}"
db="${MOSAIC_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/mosaic}"
dbname="${db##*/}"; dbname="${dbname%%\?*}"
psql "${db%/*}/postgres" -Atqc "SELECT 1 FROM pg_database WHERE datname='${dbname}'" | grep -q 1 \
  || psql "${db%/*}/postgres" -qc "CREATE DATABASE \"${dbname}\""
.venv/bin/mosaic migrate
pids=()
.venv/bin/mosaic serve contacts & pids+=($!)
.venv/bin/mosaic relay contacts & pids+=($!)
.venv/bin/mosaic serve gateway & pids+=($!)
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
echo "Mosaic CRM (distributed) on http://${MOSAIC_HOST:-127.0.0.1}:${MOSAIC_PORT:-8000} (pids ${pids[*]})"
echo "Create a tenant: MOSAIC_MODE=distributed MOSAIC_DATABASE_URL=${db} .venv/bin/mosaic tenant create acme --name Acme --admin-email you@acme.test"
wait -n
