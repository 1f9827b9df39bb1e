"""The inquiry worker: the work in steps, and every side effect exactly once per inquiry."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from app.agents.orders import OrderBook
from app.agents.policy import StorePolicy
from app.agents.reviews import InquiryFailed, refund_review, summarize
from app.domain.errors import NotFound, Unavailable
from app.domain.records import Delivery, DeliveryResult, InquiryStatus
from app.ports.messaging import CallbackOutcome
from tests.app.adapters.contract.builders import all_messages
from tests.app.core_support import ALLOWED_HOST, make_services, owner_of

HOOK = f"https://{ALLOWED_HOST}/inquiry-done"


def open_refund(services, order_id="A1007", reason="damaged", with_session=True):
    """A refund review opened by the order's owner, in a session of theirs."""
    customer = owner_of(order_id)
    session = services.sessions.create(customer, {}) if with_session else None
    inquiry, _ = services.inquiries.create(
        "refund_review",
        {"order_id": order_id, "reason": reason},
        session_id=session.id if session else None,
        callback_url=HOOK,
        customer_id=customer,
    )
    return inquiry, session


def store_unchecked(services, customer_id, details, session=None, **changes):
    """An inquiry stored and published past the service's checks, as the worker may meet one:
    an order gone from the data since it was accepted, a record from before owners."""
    accepted = services.inquiries.prepare(
        "refund_review", {"order_id": "A1007"}, customer_id="C004", callback_url=HOOK
    )
    inquiry = replace(
        accepted,
        details=details,
        customer_id=customer_id,
        session_id=session.id if session else None,
        **changes,
    )
    services.store.create_inquiry(inquiry, None)
    assert services.inquiries.publish(inquiry.id)
    return inquiry


def get(services, inquiry):
    """The inquiry as its owner reads it."""
    return services.inquiries.get(inquiry.id, customer_id=inquiry.customer_id)


def deliver(services, inquiry_id, attempt=1, message_id="m-1"):
    return services.worker.handle(Delivery(inquiry_id, message_id, attempt))


def system_messages(services, session):
    return [m for m in all_messages(services.store, session.id) if m.role == "system"]


def failing_once(method, exc):
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise exc
        return method(*args, **kwargs)

    return wrapper


def test_refund_review_of_a1007_in_steps(services, callbacks):
    inquiry, session = open_refund(services)
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    done = get(services, inquiry)
    assert done.status is InquiryStatus.SUCCEEDED
    assert done.attempts == 1
    assert done.result["decision"] == "approved"
    assert done.result["refund"] == {
        "amount_cents": 8290,
        "amount": "82.90 EUR",
        "currency": "EUR",
        "includes_shipping": True,
        "excluded_final_sale_items": [],
        "claim_id": "RF-A1007",
    }
    assert [s["step"] for s in done.result["steps"]] == [
        "lookup",
        "eligibility",
        "amount",
        "decision",
    ]
    # The side effects: the session message, the event, the callback.
    assert [m.text for m in system_messages(services, session)] == [
        "Refund review for order A1007: approved. 82.90 EUR will be refunded to your original "
        "payment method within 3 business days."
    ]
    assert services.events.events() == [
        {
            "inquiry_id": inquiry.id,
            "kind": "refund_review",
            "status": "succeeded",
            "session_id": session.id,
            "occurred_at": done.as_dict()["updated_at"],
        }
    ]
    assert callbacks.sent == [(HOOK, done.as_dict(), inquiry.id)]


def test_a_change_of_mind_refunds_items_without_shipping(services):
    inquiry, _ = open_refund(services, reason="changed_mind")
    deliver(services, inquiry.id)
    refund = get(services, inquiry).result["refund"]
    assert (refund["amount"], refund["includes_shipping"]) == ("78.00 EUR", False)


@pytest.mark.parametrize(
    ("order_id", "decision", "why"),
    [
        (
            "A1004",
            "rejected",
            "Order A1004 has not shipped yet, so nothing is due yet; you can still cancel it"
            " while it is processing.",
        ),
        ("A1008", "rejected", "Order A1008 cannot be refunded: gift cards are not refundable."),
        (
            "A1010",
            "rejected",
            "Order A1010 has already been refunded: RF-A1010, 29.90 EUR, paid on 10 February 2025.",
        ),
        ("A1011", "manual_review", None),
    ],
)
def test_refund_decisions(services, order_id, decision, why):
    inquiry, _ = open_refund(services, order_id=order_id)
    deliver(services, inquiry.id)
    result = get(services, inquiry).result
    assert result["decision"] == decision
    assert result.get("ineligible_reason") == why


def test_account_export_collects_orders_and_totals(services):
    inquiry, _ = services.inquiries.create(
        "account_export", {"customer_id": "C001"}, customer_id="C001"
    )
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    result = get(services, inquiry).result
    assert [o["order_id"] for o in result["orders"]] == ["A1001", "A1002", "A1017"]
    assert result["totals"]["spent"] == "208.70 EUR"
    assert result["totals"]["by_status"] == {"delivered": 2, "shipped": 1}
    assert [s["step"] for s in result["steps"]] == ["orders", "totals", "statuses", "export"]


def test_the_export_lists_the_customers_orders_in_the_conversation(services):
    session = services.sessions.create("C001", {})
    inquiry, _ = services.inquiries.create(
        "account_export", {"customer_id": "C001"}, customer_id="C001", session_id=session.id
    )
    deliver(services, inquiry.id)
    assert system_messages(services, session)[0].text == (
        "Your account export is ready: 3 orders (A1001 delivered, A1002 delivered, A1017 "
        "shipped), 208.70 EUR spent, 0.00 EUR refunded."
    )


def test_a_long_order_history_is_listed_in_part():
    many = [{"order_id": f"A{1000 + i}", "status": "delivered"} for i in range(12)]
    result = {"order_count": 12, "orders": many, "totals": {"spent": "1 EUR", "refunded": "0"}}
    text = summarize("account_export", result, None)
    assert "A1009 delivered, and 2 more)" in text
    assert "A1010" not in text


def test_an_unknown_order_fails_the_inquiry_and_says_so_in_the_session(services, callbacks):
    # An unknown order is refused when the inquiry is opened; the worker can still meet one
    # (an order gone from the data since), and fails the inquiry.
    session = services.sessions.create("C004", {})
    inquiry = store_unchecked(services, "C004", {"order_id": "A1099", "reason": "damaged"}, session)
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    failed = get(services, inquiry)
    assert failed.status is InquiryStatus.FAILED
    assert failed.error == "order A1099 does not exist"
    assert system_messages(services, session)[0].text == (
        "Your refund review could not be completed: order A1099 does not exist."
    )
    assert len(callbacks.sent) == 1


def test_a_redelivered_message_repeats_no_side_effect(services, callbacks):
    inquiry, session = open_refund(services)
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    first = get(services, inquiry)
    for attempt in (2, 3):
        assert deliver(services, inquiry.id, attempt=attempt) is DeliveryResult.ACK
    assert get(services, inquiry) == first  # same result, attempts not counted up
    assert len(system_messages(services, session)) == 1
    assert len(services.events.events()) == 1
    assert len(callbacks.sent) == 1


def test_concurrent_duplicate_deliveries_do_the_work_once(services):
    inquiry, session = open_refund(services)
    duplicates = 8
    others_answered = threading.Event()
    sent = []

    class SlowCallbacks:
        def send(self, url, payload, idempotency_key):
            sent.append(idempotency_key)
            others_answered.wait(10)  # hold the lease until every duplicate has answered
            return CallbackOutcome.DELIVERED

    services.worker.callbacks = SlowCallbacks()
    results: list[DeliveryResult] = []
    lock = threading.Lock()
    barrier = threading.Barrier(duplicates)

    def handle():
        barrier.wait()
        result = deliver(services, inquiry.id)
        with lock:
            results.append(result)
            if len(results) == duplicates - 1:
                others_answered.set()

    threads = [threading.Thread(target=handle) for _ in range(duplicates)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted([DeliveryResult.ACK] + [DeliveryResult.RETRY] * 7)
    # The retried duplicates come back: nothing is left to do.
    assert deliver(services, inquiry.id, attempt=2) is DeliveryResult.ACK
    assert sent == [inquiry.id]
    assert len(system_messages(services, session)) == 1
    assert len(services.events.events()) == 1
    assert get(services, inquiry).attempts == 1


def test_a_crash_between_side_effects_resumes_without_repeating(services, callbacks, monkeypatch):
    inquiry, session = open_refund(services)
    monkeypatch.setattr(
        services.events,
        "publish_event",
        failing_once(services.events.publish_event, Unavailable("events down")),
    )
    assert deliver(services, inquiry.id) is DeliveryResult.RETRY
    assert get(services, inquiry).status is InquiryStatus.SUCCEEDED
    assert len(system_messages(services, session)) == 1
    assert callbacks.sent == []

    assert deliver(services, inquiry.id, attempt=2) is DeliveryResult.ACK
    assert len(system_messages(services, session)) == 1
    assert len(services.events.events()) == 1
    assert len(callbacks.sent) == 1
    assert get(services, inquiry).attempts == 1  # the work was not redone


def test_a_crashed_workers_lease_expires_and_another_takes_over(services, clock):
    inquiry, _ = open_refund(services)
    now = clock.now()
    services.store.claim_inquiry(inquiry.id, "crashed", now, now + timedelta(seconds=60))
    assert deliver(services, inquiry.id) is DeliveryResult.RETRY  # still leased
    clock.advance(61)
    assert deliver(services, inquiry.id, attempt=2) is DeliveryResult.ACK
    done = get(services, inquiry)
    assert (done.status, done.attempts) == (InquiryStatus.SUCCEEDED, 2)


def test_a_store_outage_is_retried_and_then_succeeds(services, monkeypatch):
    inquiry, _ = open_refund(services)
    monkeypatch.setattr(
        services.store,
        "finish_inquiry",
        failing_once(services.store.finish_inquiry, Unavailable("disk busy")),
    )
    assert deliver(services, inquiry.id) is DeliveryResult.RETRY
    assert get(services, inquiry).status is InquiryStatus.RUNNING
    assert deliver(services, inquiry.id, attempt=2) is DeliveryResult.ACK
    done = get(services, inquiry)
    assert (done.status, done.attempts) == (InquiryStatus.SUCCEEDED, 2)


def test_the_last_attempt_gives_up_explicitly(services, monkeypatch):
    inquiry, session = open_refund(services)
    monkeypatch.setattr(
        "app.agents.worker.WORK",
        {
            "refund_review": lambda worker, inquiry, owner: (_ for _ in ()).throw(
                Unavailable("down")
            )
        },
    )
    assert deliver(services, inquiry.id, attempt=4) is DeliveryResult.RETRY
    assert deliver(services, inquiry.id, attempt=5) is DeliveryResult.ACK
    failed = get(services, inquiry)
    assert failed.status is InquiryStatus.FAILED
    assert failed.error == "gave up after 2 attempts: down"
    assert len(system_messages(services, session)) == 1


def test_a_callback_the_receiver_asks_to_retry_is_sent_again(services, callbacks):
    callbacks.script[:] = [CallbackOutcome.RETRY, CallbackOutcome.DELIVERED]
    inquiry, session = open_refund(services)
    assert deliver(services, inquiry.id) is DeliveryResult.RETRY
    assert deliver(services, inquiry.id, attempt=2) is DeliveryResult.ACK
    assert deliver(services, inquiry.id, attempt=3) is DeliveryResult.ACK
    assert len(callbacks.sent) == 2
    assert services.store.effect_outcomes(inquiry.id)["callback"] == "delivered"
    assert len(system_messages(services, session)) == 1


def test_a_refused_callback_is_not_retried(services, callbacks):
    callbacks.script[:] = [CallbackOutcome.REJECTED]
    inquiry, _ = open_refund(services)
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    assert deliver(services, inquiry.id, attempt=2) is DeliveryResult.ACK
    assert len(callbacks.sent) == 1
    assert services.store.effect_outcomes(inquiry.id)["callback"] == "rejected"


def test_a_callback_still_failing_on_the_last_attempt_is_given_up(services, callbacks):
    callbacks.script[:] = [CallbackOutcome.RETRY] * 5
    inquiry, _ = open_refund(services)
    assert deliver(services, inquiry.id, attempt=4) is DeliveryResult.RETRY
    assert deliver(services, inquiry.id, attempt=5) is DeliveryResult.ACK
    assert services.store.effect_outcomes(inquiry.id)["callback"] == "gave_up"


def test_a_delivery_for_an_unknown_inquiry_is_acknowledged(services):
    assert deliver(services, "0" * 32) is DeliveryResult.ACK


def test_every_state_change_is_logged(services, caplog):
    caplog.set_level("INFO", logger="app.inquiry")
    inquiry, _ = open_refund(services)
    deliver(services, inquiry.id, attempt=1)
    changes = [
        (r.json_fields["inquiry_id"], r.json_fields["status"], r.json_fields["attempt"])
        for r in caplog.records
        if r.name == "app.inquiry"
    ]
    assert changes == [
        (inquiry.id, "queued", 0),
        (inquiry.id, "running", 1),
        (inquiry.id, "succeeded", 1),
    ]


# --- the work acts on the owner's data only ---


def test_refund_review_sees_only_the_owners_orders():
    orders = OrderBook()
    details = {"order_id": "A1007", "reason": "damaged"}
    assert refund_review(orders, details, "C004", StorePolicy())["decision"] == "approved"
    with pytest.raises(InquiryFailed, match=r"^order A1007 does not exist$"):
        refund_review(orders, details, "C001", StorePolicy())


def test_a_refund_review_of_another_customers_order_fails_as_an_unknown_order(services, callbacks):
    # Refused when it is opened; stored past the checks, the worker refuses it too.
    session = services.sessions.create("C001", {})
    inquiry = store_unchecked(services, "C001", {"order_id": "A1007", "reason": "damaged"}, session)
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    failed = get(services, inquiry)
    assert (failed.status, failed.result) == (InquiryStatus.FAILED, None)
    assert failed.error == "order A1007 does not exist"
    (posted,) = system_messages(services, session)
    assert posted.text == "Your refund review could not be completed: order A1007 does not exist."
    # Nothing of C004's order goes out: not its amount, items or decision.
    assert callbacks.sent == [(HOOK, failed.as_dict(), inquiry.id)]
    for leaked in ("82.90", "teapot", "approved"):
        assert leaked not in str(failed.as_dict()) + posted.text


def test_an_account_export_of_another_customer_fails(services):
    inquiry = store_unchecked(services, "C001", {"customer_id": "C002"}, kind="account_export")
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    failed = get(services, inquiry)
    assert (failed.status, failed.result) == (InquiryStatus.FAILED, None)
    assert failed.error == "an account export is of its owner's account only"


def test_an_account_export_without_a_customer_exports_the_owners_account(services):
    inquiry = store_unchecked(services, "C002", {}, kind="account_export")
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    done = get(services, inquiry)
    assert done.status is InquiryStatus.SUCCEEDED
    assert [o["order_id"] for o in done.result["orders"]] == ["A1003", "A1004", "A1018"]


def test_an_inquiry_without_an_owner_fails_without_doing_the_work(services, monkeypatch):
    monkeypatch.setattr(
        "app.agents.worker.WORK",
        {"refund_review": lambda *args: pytest.fail("the work ran for an inquiry of nobody")},
    )
    inquiry = store_unchecked(services, None, {"order_id": "A1007", "reason": "damaged"})
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    failed = services.store.get_inquiry(inquiry.id)
    assert failed.status is InquiryStatus.FAILED
    assert failed.error == "the inquiry records no customer (stored before owners were)"
    with pytest.raises(NotFound):  # and nobody can read it
        services.inquiries.get(inquiry.id, customer_id="C004")


def test_a_result_for_a_full_session_is_recorded_and_not_posted(tmp_path, clock, callbacks):
    full = make_services(tmp_path / "full", clock, callbacks, session_max_messages=2)
    inquiry, session = open_refund(full)
    full.conversation.post_message(session.id, "hello", customer_id=session.customer_id)
    assert deliver(full, inquiry.id) is DeliveryResult.ACK
    assert system_messages(full, session) == []
    assert full.store.effect_outcomes(inquiry.id)["session_message"] == "session_full"
    assert get(full, inquiry).status is InquiryStatus.SUCCEEDED  # readable there
    full.close()


def test_the_session_message_is_recorded_with_the_message_and_never_read_for(services):
    """The claim brings the markers; the message and its marker are one write."""
    inquiry, session = open_refund(services)
    services.store.effect_done = None  # the worker must not ask
    assert deliver(services, inquiry.id) is DeliveryResult.ACK
    assert services.store.effect_outcomes(inquiry.id)["session_message"] == "appended"
    assert len(system_messages(services, session)) == 1
