"""The request bodies of the public API, declared once for validation and for the OpenAPI file."""

from __future__ import annotations

from app.agents.inquiries import KINDS as INQUIRY_KINDS
from app.http.validation import BodySpec, Field

FAQ_SEARCH = BodySpec(
    "FaqSearch",
    [
        Field("query", str, min_length=1, max_length=500, description="The customer's question"),
        Field("top_k", int, required=False, default=5, minimum=1, maximum=20),
    ],
)


def _optional_id(name: str, description: str) -> Field:
    """An optional customer or staff id (null or absent means not given)."""
    return Field(
        name,
        str,
        required=False,
        nullable=True,
        min_length=1,
        max_length=128,
        description=description,
    )


NEW_SESSION = BodySpec(
    "NewSession",
    [
        _optional_id(
            "customer_id",
            "Optional: the token names the customer; when sent it must be the same",
        ),
        Field(
            "preferences",
            dict,
            required=False,
            default={},
            description="Free-form preferences the support agent remembers (language, channel)",
        ),
    ],
)

NEW_MESSAGE = BodySpec(
    "NewMessage",
    [Field("text", str, min_length=1, max_length=4000, description="One customer turn")],
)

NEW_INQUIRY = BodySpec(
    "NewInquiry",
    [
        Field(
            "kind",
            str,
            min_length=1,
            max_length=64,
            choices=INQUIRY_KINDS,
            description="What to do: refund_review (of one of the caller's orders) or"
            " account_export (the caller's data export); erasure is DELETE"
            " /v1/customers/me/data",
        ),
        Field("details", dict, required=False, default={}, description="Input of the inquiry"),
        Field(
            "session_id",
            str,
            required=False,
            nullable=True,
            min_length=1,
            max_length=128,
            description="The session that receives the result as a message",
        ),
        Field(
            "callback_url",
            str,
            required=False,
            nullable=True,
            min_length=1,
            max_length=2048,
            description="https URL on an allowed host; the result is POSTed there, HMAC-signed",
        ),
    ],
)

DEV_TOKEN = BodySpec(
    "DevToken",
    [
        _optional_id("customer_id", "A demo customer (C001 to C008); give this or staff_id"),
        _optional_id("staff_id", "A demo staff member (S001 to S003); give this or customer_id"),
    ],
)

ALL_BODIES = (FAQ_SEARCH, NEW_SESSION, NEW_MESSAGE, NEW_INQUIRY, DEV_TOKEN)
