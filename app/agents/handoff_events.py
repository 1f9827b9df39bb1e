"""The announcement that a customer asked for a person: the "handoff.requested" event.

Published on the events topic (INQUIRY_EVENTS_TOPIC, beside the inquiry events) by the api,
after the turn that asked was stored, for whatever tells the support team (a chat channel, a
pager). A notification, not the record: the queue in the store is what the staff console lists
and what the wait alert counts, so a publish that fails is logged and not retried, and a turn
retried under its Idempotency-Key is answered from its record and publishes nothing again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.domain.errors import AppError
from app.domain.records import Session, isoformat
from app.logs.setup import log_event
from app.ports.messaging import EventPublisher

log = logging.getLogger(__name__)

HELD_SOURCE = "human"  # `source` of a turn a person answers (the agent stayed silent)
REQUESTED_EVENT = "handoff.requested"


def announce_request(events: EventPublisher, session: Session, reply_id: str, at: datetime) -> None:
    """Publish the event, its id naming the turn's reply (consumers drop duplicates by it).

    Event: {"type": "handoff.requested", "session_id", "customer_id", "occurred_at"}.
    """
    event = {
        "type": REQUESTED_EVENT,
        "session_id": session.id,
        "customer_id": session.customer_id,
        "occurred_at": isoformat(at),
    }
    fields = {"event": REQUESTED_EVENT, "session_id": session.id}
    try:
        events.publish_event(f"handoff:{session.id}:{reply_id}", event)
    except AppError as exc:
        log.warning("handoff event not published: %s", exc.detail, extra={"json_fields": fields})
        return
    log_event(log, logging.INFO, f"session {session.id} waits for a person", fields)
