"""What customers can ask about their own data: erasure (the right to be forgotten).

Customers only, and only ever about themselves (`/me`): the customer is the token's.
`DELETE /v1/customers/me/data` answers 202 with the erasure inquiry at once; the worker deletes
the caller's sessions, messages, inquiries and cached copies, and `GET /v1/inquiries/{id}`
shows what was deleted, by count. Orders stay: they are kept by law.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue

from app.http.access import current_customer, customers_only
from app.http.context import services

blueprint = Blueprint("customers", __name__, url_prefix="/v1/customers")


@blueprint.delete("/me/data")
@customers_only
def erase_my_data() -> ResponseReturnValue:
    inquiry = services().inquiries.request_erasure(current_customer())
    response = jsonify(inquiry.as_dict())
    response.status_code = 202
    response.headers["Location"] = url_for("inquiries.get_inquiry", inquiry_id=inquiry.id)
    return response
