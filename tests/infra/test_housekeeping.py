"""Every environment schedules the worker's housekeeping: Cloud Scheduler POSTs to the worker's
/tasks/housekeeping with the push identity's OIDC token, and the worker runs no thread for it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import ENV_NAMES, api_gate, only, ref, resources


def container_env(tf: dict[str, Any], role: str) -> dict[str, str]:
    (service,) = [
        config
        for config in resources(tf, "google_cloud_run_v2_service").values()
        if config["name"].endswith(f"-{role}")
    ]
    variables = service["template"]["containers"][0]["env"]
    return {item["name"]: item.get("value") for item in variables}


@pytest.fixture(params=ENV_NAMES)
def stack(request: pytest.FixtureRequest, synthesized: Any) -> tuple[str, dict[str, Any], Any]:
    name = request.param
    return name, synthesized.stacks[name], synthesized.envs[name]


def test_one_job_per_environment_posts_to_the_worker_url(stack: Any) -> None:
    name, tf, env = stack
    cfg = env.config
    job = only(tf, "google_cloud_scheduler_job")
    assert (job["name"], job["project"], job["region"]) == (
        f"{cfg.name_prefix}-housekeeping",
        cfg.project_id,
        cfg.region,
    ), name
    worker_url = f"https://{cfg.name_prefix}-worker-{cfg.project_number}.{cfg.region}.run.app"
    assert job["http_target"]["uri"] == f"{worker_url}/tasks/housekeeping"
    assert job["http_target"]["http_method"] == "POST"
    # The same worker URL that Pub/Sub pushes to and that the worker takes as its audience.
    push = only(tf, "google_pubsub_subscription", name=f"{cfg.name_prefix}-inquiries-push")
    assert push["push_config"]["push_endpoint"] == f"{worker_url}/pubsub/inquiries"
    assert container_env(tf, "worker")["PUSH_AUDIENCE"] == worker_url


def test_the_job_calls_with_the_push_identity_the_worker_verifies(stack: Any) -> None:
    name, tf, env = stack
    prefix = env.config.name_prefix
    oidc = only(tf, "google_cloud_scheduler_job")["http_target"]["oidc_token"]
    push_sa = only(tf, "google_service_account", account_id=f"{prefix}-push")
    push_ref = ref(tf, "google_service_account", push_sa)
    worker_env = container_env(tf, "worker")
    assert oidc["service_account_email"] == f"${{{push_ref}.email}}", name
    assert oidc["service_account_email"] == worker_env["PUSH_SERVICE_ACCOUNT"]
    assert oidc["audience"] == worker_env["PUSH_AUDIENCE"]
    # ...which may invoke the worker (an internal service: Cloud Scheduler counts as internal).
    worker = only(tf, "google_cloud_run_v2_service", name=f"{prefix}-worker")
    worker_ref = ref(tf, "google_cloud_run_v2_service", worker)
    invokers = {
        grant["member"]
        for grant in resources(tf, "google_cloud_run_v2_service_iam_member").values()
        if grant["role"] == "roles/run.invoker" and grant["name"] == f"${{{worker_ref}.name}}"
    }
    assert f"${{{push_ref}.member}}" in invokers


def test_the_scheduler_api_is_enabled_and_the_job_waits_for_it(stack: Any) -> None:
    """Through the API gate: the job waits for the gate, which waits for the API."""
    _, tf, _ = stack
    api = only(tf, "google_project_service", service="cloudscheduler.googleapis.com")
    api_ref = ref(tf, "google_project_service", api)
    gate_address, gate = api_gate(tf)
    assert api_ref in gate["depends_on"]
    assert gate_address in only(tf, "google_cloud_scheduler_job")["depends_on"]


def test_the_cloud_run_worker_leaves_housekeeping_to_the_scheduler(stack: Any) -> None:
    _, tf, _ = stack
    assert container_env(tf, "worker")["HOUSEKEEPING_INTERVAL_SECONDS"] == "0"
    assert "HOUSEKEEPING_INTERVAL_SECONDS" not in container_env(tf, "api")
