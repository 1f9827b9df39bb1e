"""gunicorn entry for the fault tests: the worker role with 3-second leases instead of 60.

A delivery whose worker died is redelivered when its lease runs out: the local queue's ack
deadline and the worker's claim on the inquiry are both 60 s in production, which would make a
kill-and-restart test wait a minute. Everything else is the production worker: the same
settings from the environment, the same services, the same gunicorn config and hooks.
"""

from __future__ import annotations

import os
from datetime import timedelta

from app.adapters.local_queue import RetryPolicy
from app.config.settings import Settings
from app.http.factory import create_app
from app.logs.setup import configure_logging
from app.wiring import build_services

LEASE_SECONDS = 3.0


def create_short_lease_worker():
    environ = {name: value for name, value in os.environ.items() if name != "AGENT_ROLE"}
    settings = Settings.from_env(environ, agent_role="worker")
    configure_logging("worker", level=settings.log_level)
    policy = RetryPolicy(
        max_attempts=settings.max_delivery_attempts,
        min_backoff_seconds=0.2,
        max_backoff_seconds=1.0,
        ack_deadline_seconds=LEASE_SECONDS,
    )
    services = build_services(settings, retry_policy=policy)
    services.worker.lease = timedelta(seconds=LEASE_SECONDS)
    return create_app(settings, services)


app = create_short_lease_worker()
