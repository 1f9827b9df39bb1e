"""`POST /dev/token`: tokens for the demo customers and staff, in AUTH_MODE=local only.

Public, because it is how a laptop signs in; it exists only when the api runs the local issuer
(the factory registers this blueprint in local mode alone, so elsewhere the path is a 404), and
the app refuses local mode on Cloud Run. It signs in the shipped demo customers (those of the
sample orders) and the demo staff members, nobody else.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from app.agents.orders import OrderBook
from app.domain.errors import InvalidInput
from app.http.access import public
from app.http.bodies import DEV_TOKEN
from app.http.validation import json_body
from app.identity.local_issuer import DEMO_STAFF, TOKEN_SECONDS, LocalIssuer

blueprint = Blueprint("dev_token", __name__, url_prefix="/dev")


def register(app: Flask, issuer: LocalIssuer) -> None:
    """Serve `/dev/token` on `app`, signing with `issuer` (local mode only)."""
    app.extensions["local_issuer"] = issuer
    app.extensions["demo_customers"] = OrderBook().customer_ids()
    app.register_blueprint(blueprint)


@blueprint.post("/token")
@public
def mint_token() -> ResponseReturnValue:
    body = json_body(DEV_TOKEN)
    given = [name for name in ("customer_id", "staff_id") if body[name] is not None]
    if len(given) != 1:
        raise InvalidInput("give exactly one of customer_id and staff_id", field="customer_id")
    field = given[0]
    who, allowed = {
        "customer_id": ("customer", current_app.extensions["demo_customers"]),
        "staff_id": ("staff member", DEMO_STAFF),
    }[field]
    if body[field] not in allowed:
        raise InvalidInput(
            f"{field}: must be a demo {who} ({', '.join(allowed)}), got {body[field]!r}",
            field=field,
        )
    issuer: LocalIssuer = current_app.extensions["local_issuer"]
    return jsonify(token=issuer.mint(**{field: body[field]}), expires_in=TOKEN_SECONDS)
