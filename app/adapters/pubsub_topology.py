"""Creates on a Pub/Sub emulator what `modules/messaging.py` declares on Google Cloud.

On Google Cloud, Terraform creates the topics and subscriptions. The emulator starts empty, so
`make run BACKEND=emulators` and the integration tests create the same shape here: the inquiries
topic with a push subscription to the worker (with the dead-letter policy), the events topic,
and the dead-letter topic with a pull subscription to inspect what landed there. The names
follow the module (`<prefix>-inquiries`, `<prefix>-inquiries-push`, ...).

One difference: the push subscription has no retry policy here, so the emulator redelivers a
refused push after about a second instead of backing off. The emulator's (0.8.20) backoff
loses track of messages: when two are delayed in the same millisecond, a later redelivery
check re-queues one of them under a stale ack id, the emulator's expiry task then fails on it
(NullPointerException, swallowed by its scheduler) and never runs again for that
subscription, so its delayed messages are neither redelivered nor dead-lettered.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass

MIN_DELIVERY_ATTEMPTS, MAX_DELIVERY_ATTEMPTS = 5, 100  # Pub/Sub's own limits


@dataclass(frozen=True)
class Topology:
    """Full resource paths of what `provision` created."""

    project: str
    inquiries_topic: str
    events_topic: str
    dead_letter_topic: str
    push_subscription: str
    events_subscription: str
    dead_letter_subscription: str


def topology(project: str, prefix: str) -> Topology:
    topic = f"projects/{project}/topics/{prefix}"
    subscription = f"projects/{project}/subscriptions/{prefix}"
    return Topology(
        project=project,
        inquiries_topic=f"{topic}-inquiries",
        events_topic=f"{topic}-inquiry-events",
        dead_letter_topic=f"{topic}-inquiries-dead-letter",
        push_subscription=f"{subscription}-inquiries-push",
        events_subscription=f"{subscription}-inquiry-events-pull",
        dead_letter_subscription=f"{subscription}-inquiries-dead-letter-pull",
    )


def provision(
    project: str,
    prefix: str,
    push_endpoint: str,
    max_delivery_attempts: int = MIN_DELIVERY_ATTEMPTS,
    ack_deadline_seconds: int = 30,
) -> Topology:
    """Create the topics and subscriptions (PUBSUB_EMULATOR_HOST must point at the emulator).

    Raises ValueError naming the argument when a value is outside what Pub/Sub accepts.
    """
    if not MIN_DELIVERY_ATTEMPTS <= max_delivery_attempts <= MAX_DELIVERY_ATTEMPTS:
        raise ValueError(
            f"max_delivery_attempts: must be between {MIN_DELIVERY_ATTEMPTS} and "
            f"{MAX_DELIVERY_ATTEMPTS} (Pub/Sub's limits), got {max_delivery_attempts}"
        )
    if not push_endpoint.startswith(("http://", "https://")):
        raise ValueError(f"push_endpoint: must be an http(s) URL, got {push_endpoint!r}")
    # The library ships no type information: imported as a plain module (its attributes Any).
    pubsub_v1 = importlib.import_module("google.cloud.pubsub_v1")

    names = topology(project, prefix)
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for topic in (names.inquiries_topic, names.events_topic, names.dead_letter_topic):
            publisher.create_topic(request={"name": topic})
        for name, topic in (
            (names.events_subscription, names.events_topic),
            (names.dead_letter_subscription, names.dead_letter_topic),
        ):
            subscriber.create_subscription(
                request={"name": name, "topic": topic, "ack_deadline_seconds": 60}
            )
        subscriber.create_subscription(
            request={
                "name": names.push_subscription,
                "topic": names.inquiries_topic,
                "ack_deadline_seconds": ack_deadline_seconds,
                "push_config": {"push_endpoint": push_endpoint},
                # No retry_policy: see the module docstring.
                "dead_letter_policy": {
                    "dead_letter_topic": names.dead_letter_topic,
                    "max_delivery_attempts": max_delivery_attempts,
                },
            }
        )
    finally:
        subscriber.close()
        publisher.stop()
    return names


def deprovision(names: Topology) -> None:
    """Delete what `provision` created, subscriptions first (missing ones are skipped).

    A subscription left behind keeps pushing to an endpoint that is gone, and the emulator's
    retries to it slow every other subscription's deliveries.
    """
    from google.api_core import exceptions

    # The library ships no type information: imported as a plain module (its attributes Any).
    pubsub_v1 = importlib.import_module("google.cloud.pubsub_v1")

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for subscription in (
            names.push_subscription,
            names.events_subscription,
            names.dead_letter_subscription,
        ):
            with contextlib.suppress(exceptions.NotFound):
                subscriber.delete_subscription(request={"subscription": subscription})
        for topic in (names.inquiries_topic, names.events_topic, names.dead_letter_topic):
            with contextlib.suppress(exceptions.NotFound):
                publisher.delete_topic(request={"topic": topic})
    finally:
        subscriber.close()
        publisher.stop()
