"""Messaging layer: Pub/Sub topics and the push subscription behind the event-driven agents.

The API answers an inquiry at once and publishes its id; Pub/Sub pushes it to the worker
with an OIDC token the worker verifies, retries with exponential backoff, and after the
maximum attempts moves it to a dead-letter topic that a pull subscription keeps for
inspection (and an alert watches). Dead-lettering only works when the Pub/Sub service agent
may publish to the dead-letter topic and acknowledge on the source subscription; both
grants are made here, bound on those two resources only.

Creates: topics `<prefix>-inquiries`, `<prefix>-inquiry-events`,
`<prefix>-inquiries-dead-letter`; the push subscription `<prefix>-inquiries-push`; the pull
subscription `<prefix>-inquiries-dead-letter-pull`; the service agent's two dead-letter
grants; `roles/pubsub.publisher` on a topic for each member given for it, and
`roles/pubsub.subscriber` on the events topic (attach a subscription) for each events
subscriber.

Example::

    messaging = Messaging(stack, "messaging", MessagingProps(
        project_id="acme-agents-dev", project_number="123456789012", name_prefix="agents-dev",
        push_endpoint="https://worker-abc-ew.a.run.app/pubsub/inquiries",
        push_service_account_email="agents-dev-push@acme-agents-dev.iam.gserviceaccount.com",
        push_audience="https://worker-abc-ew.a.run.app",
        labels={"app": "agents", "env": "dev"},
        inquiries_publishers=[
            "serviceAccount:agents-dev-api@acme-agents-dev.iam.gserviceaccount.com"]))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_pubsub_subscription: 2
      google_pubsub_subscription_iam_member: 1
      google_pubsub_topic: 3
      google_pubsub_topic_iam_member: 2
      resources: 8
    values:
      google_pubsub_topic.messaging_inquiries: {name: agents-dev-inquiries}
      google_pubsub_topic.messaging_dead-letter: {name: agents-dev-inquiries-dead-letter}
      google_pubsub_subscription.messaging_push:
        name: agents-dev-inquiries-push
        ack_deadline_seconds: 60
        push_config:
          - push_endpoint: "https://worker-abc-ew.a.run.app/pubsub/inquiries"
            oidc_token:
              - service_account_email: agents-dev-push@acme-agents-dev.iam.gserviceaccount.com
                audience: "https://worker-abc-ew.a.run.app"
        dead_letter_policy: [{max_delivery_attempts: 5}]
        retry_policy: [{minimum_backoff: 10s, maximum_backoff: 600s}]
      google_pubsub_topic_iam_member.messaging_dead-letter-agent-publisher:
        role: roles/pubsub.publisher
        member: "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
      google_pubsub_subscription_iam_member.messaging_push-agent-subscriber:
        role: roles/pubsub.subscriber
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from cdktn import Token
from cdktn_provider_google.pubsub_subscription import (
    PubsubSubscription,
    PubsubSubscriptionDeadLetterPolicy,
    PubsubSubscriptionExpirationPolicy,
    PubsubSubscriptionPushConfig,
    PubsubSubscriptionPushConfigOidcToken,
    PubsubSubscriptionRetryPolicy,
)
from cdktn_provider_google.pubsub_subscription_iam_member import PubsubSubscriptionIamMember
from cdktn_provider_google.pubsub_topic import PubsubTopic
from cdktn_provider_google.pubsub_topic_iam_member import PubsubTopicIamMember
from constructs import Construct

PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "project": (
        re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"),
        "must be a project id: 6-30 of [a-z0-9-], starting with a letter",
    ),
    "number": (re.compile(r"^[0-9]{6,20}$"), "must be the project number (digits only)"),
    "prefix": (
        re.compile(r"^[a-z][a-z0-9-]{1,60}[a-z0-9]$"),
        "must be 3-62 of [a-z0-9-], starting with a letter",
    ),
    "https": (re.compile(r"^https://[^\s/]+(/\S*)?$"), "must be an https:// URL"),
    "email": (re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]+$"), "must be a service account email"),
    "audience": (re.compile(r"^\S+$"), "must be a non-empty string without spaces"),
    "member": (
        re.compile(r"^(serviceAccount|user|group|domain|principal|principalSet):\S+$"),
        "items must be IAM members such as 'serviceAccount:<email>' (never allUsers)",
    ),
    "kms_key": (
        re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$"),
        "must be a Cloud KMS key: 'projects/P/locations/L/keyRings/R/cryptoKeys/K'",
    ),
}
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
# Limits Pub/Sub itself enforces (seconds unless said otherwise).
ACK_DEADLINE = (10, 600)
DELIVERY_ATTEMPTS = (5, 100)
BACKOFF = (0, 600)
RETENTION = (600, 2678400)

# cdktn's string token marker (`Token.is_unresolved` tests this very pattern in Node.js).
_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def _unresolved(value: str) -> bool:
    """A reference known only at apply time (a cdktn token)? Decided in Python when the string
    holds no "${" or holds cdktn's token marker; only anything else asks Node.js."""
    if "${" not in value:
        return False
    return _TOKEN.search(value) is not None or Token.is_unresolved(value)


def _fail(owner: str, field: str, allowed: str, value: object) -> NoReturn:
    raise ValueError(f"{owner}.{field}: {allowed}, got {value!r}")


def _match(owner: str, field: str, value: Any, kind: str) -> None:
    """Unresolved tokens (values known only at apply time) pass; literals must match."""
    pattern, allowed = PATTERNS[kind]
    if not isinstance(value, str) or not (_unresolved(value) or pattern.match(value)):
        _fail(owner, field, allowed, value)


def _check_int(owner: str, field: str, value: Any, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(owner, field, f"must be an integer between {low} and {high}", value)


def _check_members(owner: str, field: str, members: Any) -> tuple[str, ...]:
    if isinstance(members, str) or not isinstance(members, Sequence):
        _fail(owner, field, "must be a list of IAM members", members)
    for member in members:
        # "serviceAccount:${TfToken[...]}" is checked for its kind; a member that is wholly a
        # reference (a service account's `member` attribute) is known only at apply time.
        if not isinstance(member, str) or not (
            PATTERNS["member"][0].match(member) or _unresolved(member)
        ):
            _fail(owner, field, PATTERNS["member"][1], member)
    if len(set(members)) != len(members):
        _fail(owner, field, "must not repeat a member", members)
    return tuple(members)


def _check_labels(owner: str, labels: Any) -> None:
    if not isinstance(labels, Mapping) or not {"app", "env"} <= set(labels):
        _fail(owner, "labels", "must be a mapping that includes 'app' and 'env'", labels)
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY.match(key):
            _fail(owner, "labels", "keys must be 1-63 of [a-z0-9_-] starting with a letter", key)
        if not isinstance(value, str) or not LABEL_VALUE.match(value):
            _fail(owner, f"labels[{key}]", "values must be 0-63 of [a-z0-9_-]", value)


@dataclass(frozen=True, kw_only=True)
class MessagingProps:
    """What `Messaging` builds. Durations are in seconds; limits are Pub/Sub's own.

    `push_endpoint` is the worker's URL for Pub/Sub pushes (https only);
    `push_service_account_email` signs the OIDC token and `push_audience` is its audience,
    both of which the worker checks. `inquiries_publishers` and `events_publishers` get
    `roles/pubsub.publisher` on their topic: every identity whose code publishes there, which
    for the inquiries topic is also whoever republishes an inquiry whose first publish failed
    (a denied republish is an accepted inquiry that never reaches the worker).
    `kms_key_name` encrypts the messages of all three topics with a customer-managed key
    (Pub/Sub advises a `global` one); the Pub/Sub service agent needs
    `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it first: pass that grant in
    `depends_on_resources`.
    """

    project_id: str
    project_number: str
    name_prefix: str
    push_endpoint: str
    push_service_account_email: str
    push_audience: str
    labels: Mapping[str, str]
    ack_deadline_seconds: int = 60
    minimum_backoff_seconds: int = 10
    maximum_backoff_seconds: int = 600
    max_delivery_attempts: int = 5
    message_retention_seconds: int = 604800
    dead_letter_retention_seconds: int = 1209600
    inquiries_publishers: Sequence[str] = ()
    events_publishers: Sequence[str] = ()
    events_subscribers: Sequence[str] = ()
    kms_key_name: str | None = None
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = "MessagingProps"
        _match(owner, "project_id", self.project_id, "project")
        _match(owner, "project_number", self.project_number, "number")
        _match(owner, "name_prefix", self.name_prefix, "prefix")
        _match(owner, "push_endpoint", self.push_endpoint, "https")
        if self.push_endpoint.startswith("http://"):  # also when the host is a token
            _fail(owner, "push_endpoint", PATTERNS["https"][1], self.push_endpoint)
        _match(owner, "push_service_account_email", self.push_service_account_email, "email")
        _match(owner, "push_audience", self.push_audience, "audience")
        _check_labels(owner, self.labels)
        _check_int(owner, "ack_deadline_seconds", self.ack_deadline_seconds, ACK_DEADLINE)
        _check_int(owner, "minimum_backoff_seconds", self.minimum_backoff_seconds, BACKOFF)
        _check_int(owner, "maximum_backoff_seconds", self.maximum_backoff_seconds, BACKOFF)
        if self.minimum_backoff_seconds > self.maximum_backoff_seconds:
            _fail(
                owner,
                "minimum_backoff_seconds",
                f"must not exceed maximum_backoff_seconds ({self.maximum_backoff_seconds})",
                self.minimum_backoff_seconds,
            )
        _check_int(owner, "max_delivery_attempts", self.max_delivery_attempts, DELIVERY_ATTEMPTS)
        _check_int(owner, "message_retention_seconds", self.message_retention_seconds, RETENTION)
        _check_int(
            owner, "dead_letter_retention_seconds", self.dead_letter_retention_seconds, RETENTION
        )
        for field in ("inquiries_publishers", "events_publishers", "events_subscribers"):
            object.__setattr__(self, field, _check_members(owner, field, getattr(self, field)))
        if self.kms_key_name is not None:
            _match(owner, "kms_key_name", self.kms_key_name, "kms_key")
        object.__setattr__(self, "labels", dict(self.labels))


class Messaging(Construct):
    """The inquiry topics, the push subscription to the worker and its dead-letter path.

    Attributes: `inquiries_topic`, `events_topic`, `dead_letter_topic`, `push_subscription`,
    `dead_letter_subscription` (resources); `inquiries_topic_path`, `events_topic_path`
    (`projects/P/topics/NAME`, plain strings for the app's env), `push_subscription_name`,
    `dead_letter_subscription_name` (plain strings, for alerts); `pubsub_service_agent`
    (member string).
    """

    def __init__(self, scope: Construct, id: str, props: MessagingProps) -> None:
        super().__init__(scope, id)
        prefix, project, labels = props.name_prefix, props.project_id, dict(props.labels)
        after = list(props.depends_on_resources) or None
        self.pubsub_service_agent = (
            f"serviceAccount:service-{props.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
        )

        def topic(construct_id: str, name: str, retention_seconds: int) -> PubsubTopic:
            return PubsubTopic(
                self,
                construct_id,
                project=project,
                name=name,
                labels=labels,
                message_retention_duration=f"{retention_seconds}s",
                kms_key_name=props.kms_key_name,
                depends_on=after,
            )

        retention = props.message_retention_seconds
        self.inquiries_topic = topic("inquiries", f"{prefix}-inquiries", retention)
        self.events_topic = topic("inquiry-events", f"{prefix}-inquiry-events", retention)
        self.dead_letter_topic = topic(
            "dead-letter", f"{prefix}-inquiries-dead-letter", props.dead_letter_retention_seconds
        )
        dead_letter_topic_id = self.dead_letter_topic.id  # read once: a round trip to Node.js
        self.inquiries_topic_path = f"projects/{project}/topics/{prefix}-inquiries"
        self.events_topic_path = f"projects/{project}/topics/{prefix}-inquiry-events"

        never_expires = PubsubSubscriptionExpirationPolicy(ttl="")
        self.push_subscription_name = f"{prefix}-inquiries-push"
        self.push_subscription = PubsubSubscription(
            self,
            "push",
            project=project,
            name=self.push_subscription_name,
            topic=self.inquiries_topic.id,
            labels=labels,
            ack_deadline_seconds=props.ack_deadline_seconds,
            message_retention_duration=f"{retention}s",
            expiration_policy=never_expires,
            push_config=PubsubSubscriptionPushConfig(
                push_endpoint=props.push_endpoint,
                oidc_token=PubsubSubscriptionPushConfigOidcToken(
                    service_account_email=props.push_service_account_email,
                    audience=props.push_audience,
                ),
            ),
            retry_policy=PubsubSubscriptionRetryPolicy(
                minimum_backoff=f"{props.minimum_backoff_seconds}s",
                maximum_backoff=f"{props.maximum_backoff_seconds}s",
            ),
            dead_letter_policy=PubsubSubscriptionDeadLetterPolicy(
                dead_letter_topic=dead_letter_topic_id,
                max_delivery_attempts=props.max_delivery_attempts,
            ),
            depends_on=after,
        )
        self.dead_letter_subscription_name = f"{prefix}-inquiries-dead-letter-pull"
        self.dead_letter_subscription = PubsubSubscription(
            self,
            "dead-letter-pull",
            project=project,
            name=self.dead_letter_subscription_name,
            topic=dead_letter_topic_id,
            labels=labels,
            ack_deadline_seconds=props.ack_deadline_seconds,
            message_retention_duration=f"{props.dead_letter_retention_seconds}s",
            expiration_policy=never_expires,
            depends_on=after,
        )

        # Without these two grants Pub/Sub cannot dead-letter and keeps redelivering.
        PubsubTopicIamMember(
            self,
            "dead-letter-agent-publisher",
            project=project,
            topic=self.dead_letter_topic.name,
            role="roles/pubsub.publisher",
            member=self.pubsub_service_agent,
            depends_on=after,
        )
        PubsubSubscriptionIamMember(
            self,
            "push-agent-subscriber",
            project=project,
            subscription=self.push_subscription.name,
            role="roles/pubsub.subscriber",
            member=self.pubsub_service_agent,
            depends_on=after,
        )
        grants = (
            (self.inquiries_topic, "inquiries-publisher", "publisher", props.inquiries_publishers),
            (self.events_topic, "events-publisher", "publisher", props.events_publishers),
            (self.events_topic, "events-subscriber", "subscriber", props.events_subscribers),
        )
        for target, construct_id, role, members in grants:
            for number, member in enumerate(members):
                PubsubTopicIamMember(
                    self,
                    f"{construct_id}-{number}",
                    project=project,
                    topic=target.name,
                    role=f"roles/pubsub.{role}",
                    member=member,
                    depends_on=after,
                )
