"""50 concurrent writers on one session lose no message and keep one consistent order."""

from __future__ import annotations

import threading

from tests.app.adapters.contract.builders import all_messages
from tests.app.core_support import make_services

WRITERS = 50
# A mix that changes the flow (order-status questions and their answers) and leaves it alone
# (FAQ questions), so turns race on the flow version as well as on the seq.
TEXTS = [
    "Do you ship internationally?",
    "Where is my order?",
    "A1003",  # an order of the session's customer, C002
    "How do I reset my password?",
    "I want to return something",
]


def test_fifty_concurrent_writers_on_one_session(tmp_path):
    services = make_services(tmp_path)
    session = services.sessions.create("C002", {})
    barrier = threading.Barrier(WRITERS)
    outcomes: dict[str, object] = {}
    errors: list[BaseException] = []

    def write(n: int) -> None:
        text = f"{TEXTS[n % len(TEXTS)]} #{n}"
        try:
            barrier.wait()
            outcomes[text] = services.conversation.post_message(
                session.id, text, customer_id="C002"
            )
        except BaseException as exc:  # reported below with the writer's text
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    messages = all_messages(services.store, session.id)
    assert len(messages) == 2 * WRITERS
    assert [m.seq for m in messages] == list(range(1, 2 * WRITERS + 1))  # gap-free, one order
    by_seq = {m.seq: m for m in messages}
    customer_texts = [m.text for m in messages if m.role == "customer"]
    assert sorted(customer_texts) == sorted(outcomes)  # no message lost, none doubled
    for text, outcome in outcomes.items():
        reply = outcome.reply
        asked = by_seq[reply.seq - 1]
        assert asked.role == "customer" and asked.text == text  # each reply follows its message
        assert by_seq[reply.seq] == reply
    services.close()
