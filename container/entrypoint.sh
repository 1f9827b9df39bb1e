#!/bin/sh
# The start command of the one image both Cloud Run services run.
#
# AGENT_ROLE (api | worker) picks the WSGI app, app.api:app or app.worker:app. gunicorn reads
# PORT, WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_TIMEOUT and GUNICORN_READ_TIMEOUT through
# app/gunicorn_conf.py, whose worker hands a thread only requests that have arrived whole.
# `exec` replaces this shell, so gunicorn is PID 1 and gets Cloud Run's SIGTERM itself: it stops
# accepting, lets requests in flight finish within its 8 s graceful timeout and exits before
# Cloud Run's kill at 10 s. `python -m` puts the working directory (/srv) first on sys.path.
# Arguments, when given, run instead: `docker run --rm IMAGE python -c 'import app'`.
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

case "${AGENT_ROLE:-}" in
    api | worker) ;;
    *)
        echo "AGENT_ROLE: must be one of api, worker, got '${AGENT_ROLE:-}'" >&2
        exit 64
        ;;
esac

exec python -m gunicorn --config python:app.gunicorn_conf "app.${AGENT_ROLE}:app"
