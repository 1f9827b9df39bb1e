"""HOUSEKEEPING_INTERVAL_SECONDS: the Pub/Sub worker's housekeeping thread, or none.

Cloud Run sets 0 (the scheduler calls POST /tasks/housekeeping instead); off Cloud Run the
thread keeps running every N seconds, and the local queue's dispatcher is not affected.
"""

from __future__ import annotations

import pytest

from app.config.settings import Settings, SettingsError
from tests.app.core_support import make_services

PUBSUB = {
    "agent_role": "worker",
    "queue_backend": "pubsub",
    "inquiries_topic": "projects/acme-agents-dev/topics/agents-dev-inquiries",
    "inquiry_events_topic": "projects/acme-agents-dev/topics/agents-dev-inquiry-events",
}


def test_zero_starts_no_housekeeping_thread(tmp_path):
    services = make_services(tmp_path / "data", housekeeping_interval_seconds=0, **PUBSUB)
    try:
        services.start_background()
        assert services.messaging.housekeeper is None
    finally:
        services.close()


def test_a_positive_interval_runs_the_thread_at_that_interval(tmp_path):
    services = make_services(tmp_path / "data", housekeeping_interval_seconds=120, **PUBSUB)
    try:
        services.start_background()
        assert services.messaging.housekeeper is not None
        assert services.messaging.housekeeper.interval == 120
        assert services.messaging.housekeeper._thread.is_alive()
    finally:
        services.close()


def test_zero_leaves_the_local_queue_dispatcher_running(tmp_path):
    services = make_services(
        tmp_path / "data", agent_role="worker", housekeeping_interval_seconds=0
    )
    try:
        services.start_background()
        assert services.queue._threads  # the dispatcher runs housekeeping itself
    finally:
        services.close()


def test_the_variable_is_read_and_checked():
    assert Settings.from_env({}).housekeeping_interval_seconds == 30
    assert (
        Settings.from_env({"HOUSEKEEPING_INTERVAL_SECONDS": "0"}).housekeeping_interval_seconds == 0
    )
    with pytest.raises(SettingsError, match=r"^HOUSEKEEPING_INTERVAL_SECONDS: must be between 0"):
        Settings.from_env({"HOUSEKEEPING_INTERVAL_SECONDS": "-5"})
