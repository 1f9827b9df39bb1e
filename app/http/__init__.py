"""The HTTP layer: a Flask application factory with one blueprint per area of the API."""

from app.http.factory import create_app

__all__ = ["create_app"]
