"""The application factory: one Flask app per role, with the services the settings select.

Configuration is passed in, never read from globals, so tests build apps with any settings and
any services. Process-wide logging is the entry points' job (`app.api`, `app.worker`).
"""

from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from app.config.settings import Settings
from app.http import (
    customers,
    faq,
    health,
    inquiries,
    live,
    openapi,
    pages,
    pubsub,
    sessions,
    staff,
    tasks,
)
from app.http.access import install_access_gate
from app.http.problems import register_problem_handlers
from app.http.push_auth import PushVerifier, choose_push_verifier
from app.http.request_log import install_request_logging
from app.identity.setup import Identity, build_identity
from app.ports.services import Services

ROLE_BLUEPRINTS = {
    "api": (
        health.blueprint,
        openapi.blueprint,
        faq.blueprint,
        sessions.blueprint,
        inquiries.blueprint,
        customers.blueprint,
        pages.blueprint,
        staff.blueprint,
        live.blueprint,
    ),
    "worker": (health.blueprint, openapi.blueprint, pubsub.blueprint, tasks.blueprint),
}


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    push_verifier: PushVerifier | None = None,
    identity: Identity | None = None,
) -> Flask:
    """A Flask app serving `settings.agent_role`'s routes.

    Services are built from the settings (app.wiring) unless given. On the worker, the push
    verifier comes from the settings unless given; on the api, so does the identity (who the
    callers are: app.identity.setup). Settings that would leave a Cloud Run service open are
    refused here, at start-up.
    """
    settings = settings or Settings.from_env()
    role = settings.agent_role
    if role == "worker" and push_verifier is None:
        push_verifier = choose_push_verifier(settings)
    if role == "api" and identity is None:
        identity = build_identity(settings)
    if services is None:
        from app.wiring import build_services

        services = build_services(settings)

    app = Flask("app", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    provider = app.json
    assert isinstance(provider, DefaultJSONProvider)
    provider.sort_keys = False  # keep the documented member order in responses
    app.extensions["settings"] = settings
    app.extensions["services"] = services
    app.extensions["push_verifier"] = push_verifier
    local_tokens = identity is not None and identity.local_issuer is not None
    app.extensions["openapi"] = openapi.openapi_document(role, local_tokens=local_tokens)
    for blueprint in ROLE_BLUEPRINTS[role]:
        app.register_blueprint(blueprint)
    if identity is not None:
        install_access_gate(app, identity.authenticator)
        if identity.local_issuer is not None:
            from app.http import dev_token  # local mode only: it loads the local issuer

            dev_token.register(app, identity.local_issuer)
    register_problem_handlers(app)
    install_request_logging(app, role)
    return app
