"""gunicorn settings for both roles, on Cloud Run and on a laptop (`-c python:app.gunicorn_conf`).

- bind: 0.0.0.0:$PORT (Cloud Run sets PORT; default 8080). `--bind` on the command line wins.
- workers: $WEB_CONCURRENCY (default 1: Cloud Run scales instances, not processes);
  threads: $GUNICORN_THREADS (default 8), so one process serves several requests while others
  wait on the store or the model. The api adds $LIVE_MAX_STREAMS (default 200) threads for its
  live streams (app/live/): an open stream holds its thread for minutes, and the app refuses a
  stream past LIVE_MAX_STREAMS (503), so streams never take the GUNICORN_THREADS that serve
  every other request. Threads start only when needed.
- worker class: `RequestBufferingWorker` (app/server/buffering_worker.py), gunicorn's gthread
  worker that gives a thread only a request that has arrived whole. Its event loop reads headers
  and body from non-blocking sockets; a request that is not whole $GUNICORN_READ_TIMEOUT seconds
  (default 10) after its connection was accepted or became readable gets `408` and is closed.
  Stock gthread hands a thread every connection that has sent a byte and then reads the body
  with blocking calls that have no deadline, so 8 clients that stop halfway through a body took
  every thread and the instance answered nothing, not even /healthz. gunicorn's `timeout` and
  `keepalive` do not cover a body that stops arriving.
- graceful_timeout 8 s: Cloud Run sends SIGTERM and kills 10 s later; requests in flight and
  the worker's background dispatcher finish or stop inside that window. A request still
  arriving when SIGTERM comes has 2 s more to arrive whole.
- No access log (the app logs one structured line per request) and gunicorn's own lines are
  JSON on stdout as well. Routing them through `logconfig_dict` would turn gunicorn's access
  log back on internally: it would build every request's access-log fields (~8 us) for a
  logger that drops them, so `logger_class` keeps it off.
- Hooks: after a worker process has loaded the app, the worker role starts its background work
  (the local queue's dispatcher); when the process exits, services are closed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gunicorn.glogging import Logger

from app.config.settings import SettingsError, int_range
from app.server.buffering_worker import RequestBufferingWorker

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

    from app.config.settings import Settings
    from app.ports.services import Services


def _env_int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int_range(minimum, maximum)(name, raw)
    except SettingsError as error:
        raise SystemExit(str(error)) from None


def _role() -> str:
    return os.environ.get("AGENT_ROLE", "api").strip().lower() or "api"


READ_TIMEOUT_SECONDS = _env_int("GUNICORN_READ_TIMEOUT", 10, 1, 300)
RequestBufferingWorker.read_timeout_seconds = READ_TIMEOUT_SECONDS

bind = [f"0.0.0.0:{_env_int('PORT', 8080, 1, 65535)}"]
workers = _env_int("WEB_CONCURRENCY", 1, 1, 64)
worker_class = RequestBufferingWorker
NORMAL_THREADS = _env_int("GUNICORN_THREADS", 8, 1, 256)
# The api's streams: the same variable and range as app.config.settings.Settings.live_max_streams.
LIVE_THREADS = _env_int("LIVE_MAX_STREAMS", 200, 1, 1000) if _role() == "api" else 0
threads = NORMAL_THREADS + LIVE_THREADS
timeout = _env_int("GUNICORN_TIMEOUT", 30, 0, 3600)
graceful_timeout = 8
keepalive = 5
preload_app = False  # each worker process opens its own database connections after the fork
control_socket_disable = True  # two gunicorns (api, worker) would fight over one socket path
accesslog = None
errorlog = "-"


class NoAccessLogger(Logger):
    """gunicorn's logger with the access log off even though `logconfig_dict` is set."""

    @property
    def access_log_enabled(self) -> bool:
        return False


logger_class = NoAccessLogger
loglevel = os.environ.get("LOG_LEVEL", "info").strip().lower() or "info"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "json": {
            "class": "app.logs.cloud_handler.CloudLogHandler",
            "labels": {"component": "gunicorn"},
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"handlers": ["json"], "level": loglevel.upper()},
    "loggers": {
        "gunicorn.error": {"handlers": ["json"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def _services(worker: Worker) -> tuple[Services | None, Settings | None]:
    app = getattr(worker, "wsgi", None)
    extensions: dict[str, Any] = getattr(app, "extensions", {})
    return extensions.get("services"), extensions.get("settings")


def post_worker_init(worker: Worker) -> None:
    """The app is loaded in this worker process: start the role's background work."""
    services, settings = _services(worker)
    if services is not None and settings is not None and settings.agent_role == "worker":
        services.start_background()
        worker.log.info("background work started (pid %s)", worker.pid)


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """The worker process is leaving (graceful stop or restart): stop work, close backends."""
    services, _ = _services(worker)
    if services is not None:
        services.close()
        if server.log is not None:
            server.log.info("services closed (pid %s)", worker.pid)
