"""The api role's WSGI app: `gunicorn -c python:app.gunicorn_conf app.api:app`."""

from app.http.entry import app_for_role

app = app_for_role("api")
