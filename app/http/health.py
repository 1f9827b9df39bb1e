"""Liveness and readiness, for Cloud Run probes and the uptime check."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from app.http.access import public
from app.http.context import services, settings
from app.http.problems import problem

blueprint = Blueprint("health", __name__)
logger = logging.getLogger("app.http.health")
READINESS_RETRY_AFTER = 5


@blueprint.get("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """Alive: the process serves requests. Touches no backend, so a slow store never kills it."""
    return jsonify(status="ok", role=settings().agent_role)


@blueprint.get("/readyz")
@public
def readyz() -> ResponseReturnValue:
    """Ready when every backend answers; 503 with the failing ones otherwise."""
    try:
        checks = {name: bool(ok) for name, ok in services().readiness().items()}
    except Exception:
        logger.exception("readiness check raised")
        checks = {"services": False}
    if all(checks.values()):
        return jsonify(status="ready", checks=checks)
    failing = ", ".join(sorted(name for name, ok in checks.items() if not ok))
    return problem(
        503,
        f"Not ready: {failing} not answering",
        headers={"Retry-After": str(READINESS_RETRY_AFTER)},
        checks=checks,
    )
