"""One cold start in a fresh process: `python -m benchmarks.cold_probe app|bare ROLE`.

`app` imports the role's gunicorn entry point (`app.api` / `app.worker`), which reads the
settings from the environment, sets up logging and creates the app, as an instance starting
from zero does; then it answers the role's first request. `bare` creates an empty Flask app
with one route and answers the same kind of request: the floor.

The first request goes through the app's whole WSGI stack (request logging, access gate,
problem handlers) by Flask's test client, not a socket: a server's own start is the same for
both and is left out. The api's is a FAQ search, the one agent that answers anonymously (an
authenticated first request would fetch Google's keys, which no probe here can); the
worker's is `/healthz` (its real first request, a Pub/Sub push, is verified against Google's
keys too).

Prints, as its last line, the monotonic time the answer was in hand (the parent subtracts its
spawn time: interpreter start included, interpreter teardown not, since no instance waits for
that), the in-process times, and every `google.cloud` package that ended up imported.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any

from flask import Flask, Response

FAQ_QUERY = {"query": "how long do I have to return an item", "top_k": 3}
ANSWER_BYTES = 1024  # about a FAQ answer of three hits


def _bare_app() -> Flask:
    app = Flask("bare", static_folder=None)
    body = json.dumps({"results": "x" * ANSWER_BYTES})

    @app.post("/v1/faq/search")
    def search() -> Response:
        return Response(body, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _first_request(app: Flask, role: str) -> Any:
    client = app.test_client()
    if role == "api":
        return client.post("/v1/faq/search", json=FAQ_QUERY)
    return client.get("/healthz")


def main(argv: list[str]) -> int:
    kind, role = argv[1], argv[2]
    began = time.monotonic()
    app = importlib.import_module(f"app.{role}").app if kind == "app" else _bare_app()
    created = time.monotonic()
    response = _first_request(app, role)
    answered = time.monotonic()
    if response.status_code != 200:
        print(f"first request answered {response.status_code}: {response.data[:500]!r}")
        return 1
    packages = sorted(
        {".".join(name.split(".")[:3]) for name in sys.modules if name.startswith("google.cloud.")}
    )
    result = {
        "answered_at": answered,
        "create_seconds": created - began,
        "first_request_seconds": answered - created,
        "google_cloud_packages": packages,
    }
    print("\n" + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
