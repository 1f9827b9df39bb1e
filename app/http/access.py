"""Who may call each api route: one gate in front of every view, closed unless a view opens it.

Each view declares its audience with a decorator: `public` (no token: health, the OpenAPI
document, the FAQ search, the local token endpoint), `staff_only`, `customers_only`, or
`push_identity` (the worker's routes, which verify Google's push token themselves). A view
that declares nothing is treated as `customers_only`, so a route added later cannot forget
authentication; `undeclared_routes` lets a test hold every route to an explicit declaration.

The gate verifies the bearer token once per request (app.identity) and keeps the `Caller` for
the view (`current_caller`, `current_customer`). Refusals are problem+json: 401 with
`WWW-Authenticate: Bearer` for a missing or invalid token (the detail names the failed check,
never the token), 403 for a valid token of the wrong kind, 503 when the signing keys cannot be
fetched. The caller's pseudonym goes into the WSGI environ, where the request log line picks it
up: logs name callers by pseudonym only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request

from app.domain.errors import Unavailable
from app.http.problems import problem
from app.identity.callers import Authenticator, Caller
from app.identity.errors import InvalidToken, KeysUnavailable, MissingToken

PUBLIC, CUSTOMERS, STAFF, PUSH = "public", "customers", "staff", "push"
ACCESS_ATTRIBUTE = "access"
CALLER_ENVIRON_KEY = "app.caller"
REALM = "api"
NOT_LINKED = "this account is not linked to a customer"

View = TypeVar("View", bound=Callable[..., Any])


def _declare(access: str) -> Callable[[View], View]:
    def mark(view: View) -> View:
        setattr(view, ACCESS_ATTRIBUTE, access)
        return view

    return mark


public = _declare(PUBLIC)
customers_only = _declare(CUSTOMERS)
staff_only = _declare(STAFF)
# The worker's routes: Google calls them as the push service account, which each view checks
# itself (app.http.push_auth); the worker has no end-user gate.
push_identity = _declare(PUSH)


def access_of(view: Callable[..., Any] | None) -> str:
    """A view's declared audience; customers when it declares none (closed by default)."""
    return getattr(view, ACCESS_ATTRIBUTE, CUSTOMERS)


def undeclared_routes(app: Flask) -> list[str]:
    """Rules whose view declares no audience (each should say who may call it)."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and not hasattr(app.view_functions[rule.endpoint], ACCESS_ATTRIBUTE)
    )


def install_access_gate(app: Flask, authenticator: Authenticator) -> None:
    app.extensions["authenticator"] = authenticator
    app.before_request(_gate)


def current_caller() -> Caller:
    """The verified caller of this request (set by the gate)."""
    caller: Caller = g.caller
    return caller


def current_customer() -> str:
    """The customer id of this request's caller (the gate let only customers through)."""
    customer = current_caller().customer_id
    assert customer is not None, "a customers_only view without a customer caller"
    return customer


def _gate() -> Response | None:
    if request.routing_exception is not None:
        return None  # no such route (404) or method (405): nothing to protect
    access = access_of(current_app.view_functions.get(request.endpoint or ""))
    if access in (PUBLIC, PUSH):
        return None
    authenticator: Authenticator = current_app.extensions["authenticator"]
    try:
        caller = authenticator.caller(request.headers.get("Authorization"))
    except MissingToken as missing:
        return _unauthenticated(missing.reason, f'Bearer realm="{REALM}"')
    except InvalidToken as invalid:
        challenge = f'Bearer realm="{REALM}", error="invalid_token"'
        return _unauthenticated(invalid.reason, challenge)
    except KeysUnavailable as unavailable:
        raise Unavailable(str(unavailable), retry_after=10) from None
    request.environ[CALLER_ENVIRON_KEY] = caller.pseudonym
    g.caller = caller
    if access == STAFF and not caller.is_staff:
        return problem(403, "this route is for the support team's staff accounts only")
    if access == CUSTOMERS and caller.is_staff:
        return problem(403, "a staff account is not a customer account: sign in as a customer")
    if access == CUSTOMERS and caller.customer_id is None:
        return problem(403, NOT_LINKED)
    return None


def _unauthenticated(reason: str, challenge: str) -> Response:
    return problem(401, reason, headers={"WWW-Authenticate": challenge})
