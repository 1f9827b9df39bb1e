"""The worker role's WSGI app: `gunicorn -c python:app.gunicorn_conf app.worker:app`.

It serves the Pub/Sub push endpoint; with the local queue, gunicorn's post_worker_init hook
starts the dispatcher that delivers queued inquiries to the same handler.
"""

from app.http.entry import app_for_role

app = app_for_role("worker")
