"""The floor for the HTTP figures: a Flask route that only returns a fixed body.

Served by gunicorn with the same settings as the app (app/gunicorn_conf.py), it answers a
POST with `BARE_BODY_BYTES` bytes of JSON, the size of the FAQ answer being compared, so the
difference between the two is the app's own work: validation, search, logging.
"""

from __future__ import annotations

import json
import os

from flask import Flask, Response, jsonify


def _body(size: int) -> bytes:
    """A JSON document of exactly `size` bytes (at least 16)."""
    skeleton = json.dumps({"results": ""}).encode()
    return json.dumps({"results": "x" * max(0, size - len(skeleton))}).encode()


def create_bare_app(size: int) -> Flask:
    app = Flask("bare", static_folder=None)
    body = _body(size)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.post("/echo")
    def echo():
        return Response(body, mimetype="application/json")

    return app


app = create_bare_app(int(os.environ.get("BARE_BODY_BYTES", "1024")))
