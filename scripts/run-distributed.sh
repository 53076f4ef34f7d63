#!/usr/bin/env bash
# The distributed mode on this machine: migrations, then the gateway, the contacts service, its
# outbox relay and the hub (notifications and approvals of every module) as separate processes
# against MOSAIC_DATABASE_URL and MOSAIC_AMQP_URI.
# Each process is supervised: one that exits is started again after a backoff (1 s, doubling up
# to 30 s; back to 1 s once it has run for a minute), so one crash never stops the others.
# Ctrl-C (or SIGTERM) stops the four processes this script started, and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
export MOSAIC_MODE=distributed
export MOSAIC_SECRET_KEY="${MOSAIC_SECRET_KEY:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')}"
db="${MOSAIC_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/mosaic}"
dbname="${db##*/}"; dbname="${dbname%%\?*}"
psql "${db%/*}/postgres" -Atqc "SELECT 1 FROM pg_database WHERE datname='${dbname}'" | grep -q 1 \
  || psql "${db%/*}/postgres" -qc "CREATE DATABASE \"${dbname}\""
.venv/bin/mosaic migrate
# supervise NAME CMD...: run CMD, start it again whenever it exits, until this script stops.
supervise() {
  local name="$1"; shift
  local child="" backoff=1 started
  trap '[ -n "$child" ] && kill "$child" 2>/dev/null; wait; exit 0' TERM INT
  while true; do
    started=$SECONDS
    "$@" & child=$!
    wait "$child" && rc=0 || rc=$?
    child=""
    (( SECONDS - started >= 60 )) && backoff=1
    echo "run-distributed: ${name} exited with ${rc}; restarting in ${backoff}s" >&2
    sleep "$backoff" & wait $!
    backoff=$(( backoff * 2 > 30 ? 30 : backoff * 2 ))
  done
}
pids=()
supervise contacts .venv/bin/mosaic serve contacts & pids+=($!)
supervise relay-contacts .venv/bin/mosaic relay contacts & pids+=($!)
supervise hub .venv/bin/mosaic serve hub & pids+=($!)
supervise gateway .venv/bin/mosaic serve gateway & pids+=($!)
stop() { trap - INT TERM EXIT; kill -TERM "${pids[@]}" 2>/dev/null; wait; exit 0; }
trap stop INT TERM EXIT
echo "Mosaic CRM (distributed) on http://${MOSAIC_HOST:-127.0.0.1}:${MOSAIC_PORT:-8000} (supervisors ${pids[*]})"
echo "Create a tenant: MOSAIC_MODE=distributed MOSAIC_DATABASE_URL=${db} .venv/bin/mosaic tenant create acme --name Acme --admin-email you@acme.test"
wait
