"""The request bodies of the public API, declared once for validation and for the OpenAPI file.

Where an agent checks a value again, the limit is the agent's own constant, so the document,
the HTTP check and the agent's check are one number (tests/app/http/test_http_limits.py sends
values at and just past every documented limit).
"""

from __future__ import annotations

from app.agents.conversation import MAX_TEXT_CHARS
from app.agents.faq import MAX_QUERY_CHARS, MAX_TOP_K
from app.agents.inquiries import KINDS as INQUIRY_KINDS
from app.agents.inquiries import MAX_URL_CHARS
from app.agents.sessions import MAX_PREFERENCES_BYTES
from app.http.validation import NOT_BLANK, BodySpec, Field

MAX_ID_CHARS = 128  # a customer, staff or session id in a body

FAQ_SEARCH = BodySpec(
    "FaqSearch",
    [
        Field(
            "query",
            str,
            min_length=1,
            max_length=MAX_QUERY_CHARS,
            pattern=NOT_BLANK,
            description="The customer's question",
        ),
        Field("top_k", int, required=False, default=5, minimum=1, maximum=MAX_TOP_K),
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
        max_length=MAX_ID_CHARS,
        pattern=NOT_BLANK,
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
            description="Free-form preferences the support agent remembers (language,"
            f" channel), at most {MAX_PREFERENCES_BYTES} bytes as JSON",
        ),
    ],
)

NEW_MESSAGE = BodySpec(
    "NewMessage",
    [
        Field(
            "text",
            str,
            min_length=1,
            max_length=MAX_TEXT_CHARS,
            pattern=NOT_BLANK,
            description="One customer turn",
        )
    ],
)

NEW_INQUIRY = BodySpec(
    "NewInquiry",
    [
        Field(
            "kind",
            str,
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
            max_length=MAX_ID_CHARS,
            pattern=NOT_BLANK,
            description="The session that receives the result as a message",
        ),
        Field(
            "callback_url",
            str,
            required=False,
            nullable=True,
            max_length=MAX_URL_CHARS,
            description="https URL on an allowed host (CALLBACK_ALLOWED_HOSTS); the result is"
            " POSTed there, HMAC-signed",
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
