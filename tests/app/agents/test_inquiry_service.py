"""Opening inquiries: every client mistake is refused with the field named, nothing stored."""

from __future__ import annotations

import pytest

from app.domain.errors import Forbidden, InvalidInput, NotFound, Unavailable
from app.domain.records import InquiryStatus
from tests.app.core_support import ALLOWED_HOST, make_services


def stored_inquiries(services):
    with services.store.db.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM inquiries").fetchone()[0]


def test_an_inquiry_is_stored_queued_and_published(services):
    inquiry, created = services.inquiries.create(
        "refund_review",
        {"order_id": "a1007"},
        callback_url=f"https://{ALLOWED_HOST}/x?y=1",
        customer_id="C004",
    )
    assert created
    assert inquiry.status is InquiryStatus.QUEUED
    assert inquiry.details == {"order_id": "A1007", "reason": "other"}
    assert inquiry.customer_id == "C004"
    assert services.inquiries.get(inquiry.id, customer_id="C004") == inquiry
    assert services.queue.counts() == {"pending": 1}


@pytest.mark.parametrize(
    "url",
    [
        f"http://{ALLOWED_HOST}/hook",  # not https
        "https://evil.example.net/hook",  # host not allowed
        f"https://{ALLOWED_HOST}.evil.example.net/hook",  # suffix trick
        f"https://user:secret@{ALLOWED_HOST}/hook",  # credentials
        f"ftp://{ALLOWED_HOST}/hook",
        f"https://{ALLOWED_HOST}:99999/hook",  # malformed port
        "not a url",
        "",
        42,
    ],
)
def test_callback_urls_outside_the_policy_are_refused(services, url):
    with pytest.raises(InvalidInput) as caught:
        services.inquiries.create(
            "refund_review", {"order_id": "A1007"}, callback_url=url, customer_id="C004"
        )
    assert caught.value.field == "callback_url"
    assert caught.value.status == 422
    assert stored_inquiries(services) == 0
    assert services.queue.counts() == {}


def test_wildcard_hosts_allow_subdomains_only(tmp_path):
    services = make_services(tmp_path, callback_allowed_hosts=("*.partner.example",))
    ok, _ = services.inquiries.create(
        "refund_review",
        {"order_id": "A1007"},
        callback_url="https://hooks.partner.example/a",
        customer_id="C004",
    )
    assert ok.callback_url == "https://hooks.partner.example/a"
    with pytest.raises(InvalidInput):
        services.inquiries.create(
            "refund_review",
            {"order_id": "A1007"},
            callback_url="https://partner.example/a",
            customer_id="C004",
        )
    services.close()


def test_callbacks_need_a_signing_key(tmp_path):
    services = make_services(tmp_path, callback_signing_key=None)
    with pytest.raises(InvalidInput) as caught:
        services.inquiries.create(
            "refund_review",
            {"order_id": "A1007"},
            callback_url=f"https://{ALLOWED_HOST}/h",
            customer_id="C004",
        )
    assert caught.value.field == "callback_url"
    assert "CALLBACK_SIGNING_KEY" in caught.value.detail
    services.close()


@pytest.mark.parametrize(
    ("kind", "details", "field"),
    [
        ("teleport", {}, "kind"),
        (None, {}, "kind"),
        ("refund_review", [], "details"),
        ("refund_review", {}, "details.order_id"),
        ("refund_review", {"order_id": "B1007"}, "details.order_id"),
        ("refund_review", {"order_id": 1007}, "details.order_id"),
        ("refund_review", {"order_id": "A1007", "reason": "bored"}, "details.reason"),
        ("refund_review", {"order_id": "A1007", "note": "x" * 501}, "details.note"),
        ("refund_review", {"order_id": "A1007", "colour": "red"}, "details.colour"),
        ("account_export", {"customer_id": "has space"}, "details.customer_id"),
        ("account_export", {"customer_id": ""}, "details.customer_id"),
        ("account_export", {"customer_id": "C004", "extra": 1}, "details.extra"),
    ],
)
def test_bad_kinds_and_details_name_the_field(services, kind, details, field):
    with pytest.raises(InvalidInput) as caught:
        services.inquiries.create(kind, details, customer_id="C004")
    assert caught.value.field == field
    assert stored_inquiries(services) == 0


def test_the_session_must_exist_and_the_export_is_the_callers(services):
    with pytest.raises(NotFound) as caught:
        services.inquiries.create("account_export", {}, session_id="0" * 32, customer_id="C002")
    assert caught.value.field == "session_id"
    session = services.sessions.create("C002", {})
    inquiry, _ = services.inquiries.create(
        "account_export", {}, session_id=session.id, customer_id="C002"
    )
    assert inquiry.details == {"customer_id": "C002"}
    with pytest.raises(Forbidden) as caught:
        services.inquiries.create(
            "account_export", {"customer_id": "C001"}, session_id=session.id, customer_id="C002"
        )
    assert caught.value.field == "details.customer_id"
    assert stored_inquiries(services) == 1


def test_an_export_without_a_session_is_of_the_caller(services):
    inquiry, _ = services.inquiries.create("account_export", {}, customer_id="C005")
    assert (inquiry.details, inquiry.customer_id) == ({"customer_id": "C005"}, "C005")


def test_unknown_inquiries_are_not_found(services):
    for inquiry_id in ("0" * 32, "", None, "x" * 100):
        with pytest.raises(NotFound):
            services.inquiries.get(inquiry_id, customer_id="C004")


def test_an_inquiry_whose_publish_failed_is_accepted_and_published_later(
    services, monkeypatch, clock
):
    real_publish = services.queue.publish

    def queue_down(inquiry_id):
        raise Unavailable("queue down")

    monkeypatch.setattr(services.queue, "publish", queue_down)
    inquiry, created = services.inquiries.create(
        "refund_review", {"order_id": "A1007"}, customer_id="C004"
    )
    assert created
    assert services.queue.counts() == {}

    monkeypatch.setattr(services.queue, "publish", real_publish)
    assert services.inquiries.requeue_unpublished() == (0, 0)  # too young: may be in flight
    clock.advance(31)
    assert services.inquiries.requeue_unpublished() == (1, 0)
    assert services.queue.counts() == {"pending": 1}
    assert services.inquiries.requeue_unpublished() == (0, 0)  # published once only
    assert services.inquiries.get(inquiry.id, customer_id="C004").status is InquiryStatus.QUEUED
