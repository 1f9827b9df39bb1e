"""The real servers for the whole-flow tests: the Firestore and Pub/Sub emulators, redis-server,
and the worker app served over HTTP so that the emulator's pushes reach it as on Cloud Run.

The servers start once per test session; each test provisions its own topics and
subscriptions under a fresh prefix, so tests never see each other's messages. A missing
emulator, Java or redis-server skips these tests locally and fails them under CI=true.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import pytest
from werkzeug.serving import make_server

from app.adapters.pubsub_topology import Topology, deprovision, provision
from app.config.settings import Settings
from app.http import create_app
from app.wiring import AppServices, build_services
from tests.support.servers import firestore_emulator, free_port, pubsub_emulator, redis_server
from tests.support.tokens import bearer_header

PROJECT = "demo-agents"
MAX_ATTEMPTS = 5  # Pub/Sub's minimum; the worker's MAX_DELIVERY_ATTEMPTS matches it
WAIT_SECONDS = 120  # an upper bound for the emulator's pushes and redeliveries, never a measurement


@dataclass(frozen=True)
class Backends:
    firestore_host: str
    pubsub_host: str
    redis_port: int
    redis_password: str


@pytest.fixture(scope="session")
def backends(tmp_path_factory) -> Iterator[Backends]:
    workdir = tmp_path_factory.mktemp("servers")
    with (
        firestore_emulator(workdir, PROJECT) as firestore_host,
        pubsub_emulator(workdir) as pubsub_host,
        redis_server(workdir) as (redis_port, redis_password),
        pytest.MonkeyPatch.context() as env,
    ):
        # The Google client libraries read these when a client is created.
        env.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
        env.setenv("PUBSUB_EMULATOR_HOST", pubsub_host)
        env.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
        env.delenv("K_SERVICE", raising=False)
        yield Backends(firestore_host, pubsub_host, redis_port, redis_password)


def app_settings(backends: Backends, topology: Topology, role: str, data_dir: str) -> Settings:
    return Settings.from_env(
        {},
        agent_role=role,
        state_backend="firestore",
        queue_backend="pubsub",
        google_cloud_project=PROJECT,
        inquiries_topic=topology.inquiries_topic,
        inquiry_events_topic=topology.events_topic,
        redis_host="127.0.0.1",
        redis_port=backends.redis_port,
        redis_auth=backends.redis_password,
        data_dir=data_dir,
        max_delivery_attempts=MAX_ATTEMPTS,
        push_auth_disabled_for_emulator=role == "worker",
        auth_mode="local",
    )


@dataclass
class Platform:
    """The api (a test client), the worker (served over HTTP) and what Pub/Sub pushed to it."""

    topology: Topology
    api: Any
    api_services: AppServices
    worker_services: AppServices
    worker_url: str
    pushes: list[tuple[int, Any]] = field(default_factory=list)  # (status, deliveryAttempt)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def platform(backends, tmp_path) -> Iterator[Platform]:
    port = free_port()
    topology = provision(
        PROJECT,
        f"t{uuid4().hex[:10]}",
        f"http://127.0.0.1:{port}/pubsub/inquiries",
        max_delivery_attempts=MAX_ATTEMPTS,
    )
    worker_settings = app_settings(backends, topology, "worker", str(tmp_path / "worker"))
    api_settings = app_settings(backends, topology, "api", str(tmp_path / "api"))
    worker_services = build_services(worker_settings)
    api_services = build_services(api_settings)
    worker_app = create_app(worker_settings, worker_services)
    api = create_app(api_settings, api_services).test_client()
    # Signed in as C004 (orders A1007, A1008, A1020); `bearer_header` signs in others.
    api.environ_base["HTTP_AUTHORIZATION"] = bearer_header(api_settings.data_dir, "C004")[
        "Authorization"
    ]
    platform = Platform(
        topology,
        api,
        api_services,
        worker_services,
        f"http://127.0.0.1:{port}",
    )

    @worker_app.after_request
    def record(response):
        from flask import request

        body = request.get_json(silent=True) or {}
        with platform.lock:
            platform.pushes.append((response.status_code, body.get("deliveryAttempt")))
        return response

    server = make_server("127.0.0.1", port, worker_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="worker-http", daemon=True)
    thread.start()
    try:
        yield platform
    finally:
        server.shutdown()
        thread.join(10)
        api_services.close()
        worker_services.close()
        deprovision(topology)


def wait_for(condition: Callable[[], Any], what: str, seconds: float = WAIT_SECONDS) -> Any:
    """Poll until `condition` returns something truthy; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def pull(subscription: str, wanted: int, what: str, linger: float = 0.0) -> list[Any]:
    """Receive (and acknowledge) `wanted` messages from a subscription, waiting for them,
    then whatever else arrives within `linger` seconds (to show that nothing more comes).

    Streaming pull, as production consumers do: a synchronous pull that times out on the
    client can still be handed messages, which then wait out their ack deadline unseen.
    """
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    received: list[Any] = []
    lock = threading.Lock()

    def on_message(message: Any) -> None:
        with lock:
            received.append(message)
        message.ack()

    def enough() -> bool:
        with lock:
            return len(received) >= wanted

    streaming = subscriber.subscribe(subscription, callback=on_message)
    try:
        wait_for(enough, f"{what} ({wanted} wanted)")
        time.sleep(linger)
    finally:
        streaming.cancel()
        with contextlib.suppress(Exception):
            streaming.result(timeout=10)
        subscriber.close()
    with lock:
        return list(received)
