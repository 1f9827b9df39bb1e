"""What the gunicorn entry points share: settings from the environment, logs, then the app."""

from __future__ import annotations

import os

from flask import Flask

from app.config.settings import Settings
from app.http.factory import create_app
from app.identity.setup import Identity
from app.logs.setup import configure_logging


def app_for_role(role: str, identity: Identity | None = None) -> Flask:
    """The app of `role` whatever AGENT_ROLE says, so a module always serves one role."""
    environ = {name: value for name, value in os.environ.items() if name != "AGENT_ROLE"}
    settings = Settings.from_env(environ, agent_role=role)
    configure_logging(role, level=settings.log_level, project=settings.google_cloud_project)
    return create_app(settings, identity=identity)
