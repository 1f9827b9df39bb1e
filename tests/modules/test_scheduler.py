"""ScheduledCall: a cron POST to the worker carrying the push identity's OIDC token."""

from __future__ import annotations

import zoneinfo

import pytest

from tests.modules.conftest import PROJECT, REGION, only

WORKER = "https://agents-dev-worker-123456789012.europe-west1.run.app"
PUSH = f"agents-dev-push@{PROJECT}.iam.gserviceaccount.com"
TARGET = {"url": f"{WORKER}/tasks/housekeeping", "service_account_email": PUSH, "audience": WORKER}
VALID = {"project_id": PROJECT, "region": REGION, "name": "agents-dev-housekeeping"}


def props(**values):
    """ScheduledCallProps of VALID with `values`, the target's own (url, ...) among them."""
    from modules.scheduler import OidcTarget, ScheduledCallProps

    target = {key: values.pop(key) for key in list(values) if key in TARGET}
    return ScheduledCallProps(**{**VALID, **values}, target=OidcTarget(**{**TARGET, **target}))


@pytest.fixture(scope="module")
def built(synth):
    from modules.scheduler import ScheduledCall

    made = {}

    def build(stack):
        made["schedule"] = ScheduledCall(stack, "housekeeping", props())

    tf = synth(build)
    return tf, made["schedule"]


def test_the_job_posts_to_the_target_as_the_service_account(built):
    tf, _ = built
    job = only(tf, "google_cloud_scheduler_job")
    assert (job["project"], job["region"], job["name"]) == (
        PROJECT,
        REGION,
        "agents-dev-housekeeping",
    )
    target = job["http_target"]
    assert target["uri"] == f"{WORKER}/tasks/housekeeping"
    assert target["http_method"] == "POST"
    assert target["oidc_token"] == {"service_account_email": PUSH, "audience": WORKER}
    assert "oauth_token" not in target  # an OAuth token is for Google APIs, not Cloud Run


def test_defaults_run_every_five_minutes_in_utc_with_one_retry(built):
    tf, _ = built
    job = only(tf, "google_cloud_scheduler_job")
    assert job["schedule"] == "*/5 * * * *"
    assert job["time_zone"] == "Etc/UTC"
    assert job["attempt_deadline"] == "60s"
    assert job["retry_config"] == {"retry_count": 1}
    assert job["paused"] is False


def test_attributes_name_the_job(built):
    _, schedule = built
    assert schedule.job_name == "agents-dev-housekeeping"
    assert schedule.job_id == (
        f"projects/{PROJECT}/locations/{REGION}/jobs/agents-dev-housekeeping"
    )


@pytest.mark.parametrize(
    "schedule",
    ["0 3 * * *", "*/15 8-18 * * MON-FRI", "0,30 * 1 JAN,jul 0", "5 4 */2 1-12/3 7"],
)
def test_valid_cron_expressions_are_accepted(schedule):
    assert props(schedule=schedule).schedule == schedule


@pytest.mark.parametrize(
    ("overrides", "field", "bad"),
    [
        ({"project_id": "Acme"}, "project_id", "Acme"),
        ({"region": "europe west1"}, "region", "europe west1"),
        ({"name": "agents dev"}, "name", "agents dev"),
        ({"url": "http://worker.example/tasks"}, "url", "http://worker"),
        ({"service_account_email": "push"}, "service_account_email", "push"),
        ({"audience": ""}, "audience", "''"),
        ({"target": "https://worker.example/tasks"}, "target", "https://worker.example/tasks"),
        ({"schedule": "*/5 * * *"}, "schedule", "*/5 * * *"),
        ({"schedule": "*/5 * * * * *"}, "schedule", "5 fields"),
        ({"schedule": "61 * * * *"}, "schedule", "minute must be 0-59"),
        ({"schedule": "0 24 * * *"}, "schedule", "hour must be 0-23"),
        ({"schedule": "0 0 0 * *"}, "schedule", "day-of-month must be 1-31"),
        ({"schedule": "0 0 * FOO *"}, "schedule", "month must be 1-12 or JAN-DEC"),
        ({"schedule": "0 0 * * 5-1"}, "schedule", "ascending"),
        ({"schedule": "*/0 * * * *"}, "schedule", "step must be"),
        ({"schedule": "@hourly"}, "schedule", "@hourly"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Mars/Olympus_Mons"),
        ({"time_zone": "UTC+2 "}, "time_zone", "UTC+2"),
        ({"attempt_deadline_seconds": 10}, "attempt_deadline_seconds", "between 15 and 1800"),
        ({"attempt_deadline_seconds": 1801}, "attempt_deadline_seconds", "1801"),
        ({"retry_count": 6}, "retry_count", "between 0 and 5"),
        ({"retry_count": True}, "retry_count", "True"),
        ({"description": "x" * 501}, "description", "at most 500"),
    ],
)
def test_bad_props_name_the_field(overrides, field, bad):
    from modules.scheduler import ScheduledCallProps

    if bad == "Mars/Olympus_Mons" and not zoneinfo.available_timezones():
        pytest.skip("no tz database here: only the name's shape can be checked")

    owner = "OidcTarget" if field in TARGET else "ScheduledCallProps"
    with pytest.raises(ValueError, match=rf"^{owner}\.{field}: ") as error:
        if field == "target":
            ScheduledCallProps(**{**VALID, **overrides})
        else:
            props(**overrides)
    assert bad in str(error.value)
