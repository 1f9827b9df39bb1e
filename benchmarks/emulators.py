"""The Google Cloud emulators for the benchmark variants, started only when a figure needs them.

They come from `tests.support.servers` (free loopback ports, stopped on exit). A variant runs
only when the app wires its backend (`app.wiring` can load the adapter) and the emulator is
installed; otherwise `why_not` says what is missing and the figure is listed as skipped.
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path
from typing import Any
from uuid import uuid4

from benchmarks.processes import free_port

PROJECT = "demo-bench"
ADAPTERS = {
    "firestore": "app.adapters.firestore_store",
    "pubsub": "app.adapters.pubsub_publisher",
}


class Emulators(contextlib.AbstractContextManager):
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._stack = contextlib.ExitStack()
        self._hosts: dict[str, str] = {}
        self._missing: dict[str, str] = {}

    def __exit__(self, *exc_info: Any) -> None:
        self._stack.close()

    def wired(self, backend: str) -> bool:
        try:
            return importlib.util.find_spec(ADAPTERS[backend]) is not None
        except ImportError:
            return False

    def why_not(self, backend: str) -> str:
        return self._missing.get(backend, "not tried")

    def host(self, backend: str) -> str | None:
        """host:port of the running emulator, started on first use; None when unavailable."""
        if backend in self._hosts:
            return self._hosts[backend]
        if backend in self._missing:
            return None
        if not self.wired(backend):
            self._missing[backend] = f"the app has no {backend} adapter yet"
            return None
        from tests.support import servers

        start = servers.firestore_emulator if backend == "firestore" else servers.pubsub_emulator
        try:
            self._hosts[backend] = self._stack.enter_context(start(self.workdir))
        except BaseException as exc:  # pytest's skip is a BaseException; so is a missing binary
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._missing[backend] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return None
        return self._hosts[backend]

    def cold_start_backends(self) -> dict[str, dict[str, str]]:
        """local always; the Google Cloud backends when wired (creating them needs no server)."""
        backends: dict[str, dict[str, str]] = {"local": {}}
        if self.wired("firestore") and self.wired("pubsub"):
            dead = f"127.0.0.1:{free_port()}"  # nothing listens: start-up must not connect
            backends["firestore+pubsub"] = {
                **self._gcp_env("cold"),
                "FIRESTORE_EMULATOR_HOST": dead,
                "PUBSUB_EMULATOR_HOST": dead,
            }
        return backends

    def _gcp_env(self, prefix: str) -> dict[str, str]:
        return {
            "STATE_BACKEND": "firestore",
            "QUEUE_BACKEND": "pubsub",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "INQUIRIES_TOPIC": f"projects/{PROJECT}/topics/{prefix}-inquiries",
            "INQUIRY_EVENTS_TOPIC": f"projects/{PROJECT}/topics/{prefix}-inquiry-events",
            "PUSH_AUTH_DISABLED_FOR_EMULATOR": "true",
        }

    def session_env(self, data_dir: Path) -> dict[str, str] | None:
        """The api on the Firestore emulator (sessions and messages there)."""
        host = self.host("firestore")
        if host is None:
            return None
        from benchmarks.http_bench import app_env

        return app_env(
            data_dir,
            {
                "STATE_BACKEND": "firestore",
                "GOOGLE_CLOUD_PROJECT": PROJECT,
                "FIRESTORE_EMULATOR_HOST": host,
            },
        )

    def inquiry_setup(self, data_dir: Path) -> dict[str, Any] | None:
        """Firestore + Pub/Sub emulators, topics and a push subscription to the worker's port.

        Returns the api's and the worker's environments and the port the worker must bind.
        """
        firestore_host, pubsub_host = self.host("firestore"), self.host("pubsub")
        if firestore_host is None or pubsub_host is None:
            return None
        import os

        from app.adapters.pubsub_topology import provision
        from benchmarks.http_bench import app_env

        prefix = f"bench-{uuid4().hex[:8]}"
        worker_port = free_port()
        previous = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = pubsub_host
        try:
            names = provision(PROJECT, prefix, f"http://127.0.0.1:{worker_port}/pubsub/inquiries")
        finally:
            if previous is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = previous
        env = app_env(
            data_dir,
            {
                **self._gcp_env(prefix),
                "INQUIRIES_TOPIC": names.inquiries_topic,
                "INQUIRY_EVENTS_TOPIC": names.events_topic,
                "FIRESTORE_EMULATOR_HOST": firestore_host,
                "PUBSUB_EMULATOR_HOST": pubsub_host,
            },
        )
        return {"api_env": env, "worker_env": env, "worker_port": worker_port}
