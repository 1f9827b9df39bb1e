"""How handlers reach what `create_app` chose: the services and the settings of this app."""

from __future__ import annotations

from flask import current_app

from app.config.settings import Settings
from app.domain.errors import NotFound
from app.ports.services import Services

MAX_ID_LENGTH = 128


def services() -> Services:
    chosen: Services = current_app.extensions["services"]
    return chosen


def settings() -> Settings:
    chosen: Settings = current_app.extensions["settings"]
    return chosen


def resource_id(value: str, what: str) -> str:
    """A path id; one no store could hold is answered 404 without asking the store."""
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise NotFound(f"{what} not found")
    return value
