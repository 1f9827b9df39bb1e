"""The event-driven inquiry agent's public side: accept at once (202), then report progress.

Customers only: an inquiry belongs to the customer who opened it; anyone else reading it gets
the 404 of an inquiry that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from app.http.access import current_customer, customers_only
from app.http.bodies import NEW_INQUIRY
from app.http.context import resource_id, services
from app.http.validation import idempotency_key, json_body

blueprint = Blueprint("inquiries", __name__, url_prefix="/v1/inquiries")


@blueprint.post("")
@customers_only
def create_inquiry() -> ResponseReturnValue:
    key = idempotency_key(request.headers)
    body = json_body(NEW_INQUIRY)
    inquiry, created_now = services().inquiries.create(
        body["kind"],
        body["details"],
        session_id=body["session_id"],
        callback_url=body["callback_url"],
        idempotency_key=key,
        customer_id=current_customer(),
    )
    response = jsonify(inquiry.as_dict())
    response.status_code = 202
    response.headers["Location"] = url_for(".get_inquiry", inquiry_id=inquiry.id)
    if not created_now:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blueprint.get("/<inquiry_id>")
@customers_only
def get_inquiry(inquiry_id: str) -> ResponseReturnValue:
    inquiry = services().inquiries.get(
        resource_id(inquiry_id, "inquiry"), customer_id=current_customer()
    )
    return jsonify(inquiry.as_dict())
