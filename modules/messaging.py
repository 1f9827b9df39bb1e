"""Messaging layer: Pub/Sub topics, a push subscription to a service, and its dead-letter path.

A service that answers at once and does the slow part later publishes the work to a topic;
Pub/Sub pushes each message to a worker service with an OIDC token the worker verifies,
retries with exponential backoff, and after the maximum attempts moves it to a dead-letter
topic that a pull subscription keeps for inspection (and an alert can watch). Dead-lettering
only works when the Pub/Sub service agent may publish to the dead-letter topic and
acknowledge on the source subscription; both grants are made here, bound on those two
resources only.

Creates: one topic per entry of `topics` (named as given); for the pushed topic `<topic>`, the
push subscription `<topic>-push`, the topic `<topic>-dead-letter` and its pull subscription
`<topic>-dead-letter-pull`; the service agent's two dead-letter grants; and each topic's
`iam` grants, bound on that topic.

Example::

    messaging = Messaging(stack, "messaging", MessagingProps(
        project_id="acme-shop-prod", project_number="123456789012", name_prefix="shop-prod",
        labels={"app": "shop", "env": "prod"},
        topics={"orders": Topic(name="shop-prod-orders", iam={PUBLISHER: [
            "serviceAccount:shop-prod-web@acme-shop-prod.iam.gserviceaccount.com"]})},
        push=PushSubscription(
            topic="orders",
            endpoint="https://fulfil-abc-ew.a.run.app/orders",
            service_account_email="shop-prod-orders@acme-shop-prod.iam.gserviceaccount.com",
            audience="https://fulfil-abc-ew.a.run.app")))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_pubsub_subscription: 2
      google_pubsub_subscription_iam_member: 1
      google_pubsub_topic: 2
      google_pubsub_topic_iam_member: 2
      resources: 7
    values:
      google_pubsub_topic.messaging_orders: {name: shop-prod-orders}
      google_pubsub_topic.messaging_dead-letter: {name: shop-prod-orders-dead-letter}
      google_pubsub_subscription.messaging_push:
        name: shop-prod-orders-push
        ack_deadline_seconds: 60
        push_config:
          - push_endpoint: "https://fulfil-abc-ew.a.run.app/orders"
            oidc_token:
              - service_account_email: shop-prod-orders@acme-shop-prod.iam.gserviceaccount.com
                audience: "https://fulfil-abc-ew.a.run.app"
        dead_letter_policy: [{max_delivery_attempts: 5}]
        retry_policy: [{minimum_backoff: 10s, maximum_backoff: 600s}]
      google_pubsub_topic_iam_member.messaging_dead-letter-agent-publisher:
        role: roles/pubsub.publisher
        member: "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
      google_pubsub_subscription_iam_member.messaging_push-agent-subscriber:
        role: roles/pubsub.subscriber
      google_pubsub_topic_iam_member.messaging_orders-publisher-0:
        role: roles/pubsub.publisher
        member: "serviceAccount:shop-prod-web@acme-shop-prod.iam.gserviceaccount.com"
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    "number": (re.compile(r"[0-9]{6,20}"), "must be the project number (digits only)"),
    "prefix": (
        re.compile(r"[a-z][a-z0-9-]{1,60}[a-z0-9]"),
        "must be 3-62 of [a-z0-9-], starting with a letter",
    ),
    "https": (re.compile(r"https://[^\s/]+(/\S*)?"), "must be an https:// URL"),
    "email": (re.compile(r"[^@\s]+@[^@\s]+\.[a-z]+"), "must be a service account email"),
    "audience": (re.compile(r"\S+"), "must be a non-empty string without spaces"),
    "topic": (
        re.compile(r"[A-Za-z][-A-Za-z0-9._~+%]{2,254}"),
        "must be a topic name: 3-255 letters, digits or -._~+%, starting with a letter",
    ),
    "kms_key": (
        re.compile(r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+"),
        "must be a Cloud KMS key: 'projects/P/locations/L/keyRings/R/cryptoKeys/K'",
    ),
}
_KEY = re.compile(r"[a-z][a-z0-9-]{0,29}")
PUBLISHER, SUBSCRIBER = "roles/pubsub.publisher", "roles/pubsub.subscriber"
# Limits Pub/Sub itself enforces (seconds unless said otherwise).
ACK_DEADLINE = (10, 600)
DELIVERY_ATTEMPTS = (5, 100)
BACKOFF = (0, 600)
RETENTION = (600, 2678400)


# --- shared helpers: begin ---
# The same block, byte for byte, in every module (tests/modules/test_shared_helpers.py): each
# module is copied alone into other repos, so it cannot import them from a sibling. Change one
# copy, then paste it over the others.

# Project ids: 6-30 lowercase letters, digits or hyphens, starting with a letter.
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_MEMBER = re.compile(r"(serviceAccount|user|group|domain|principal|principalSet):\S+")
_ROLE = re.compile(r"roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+")
# Anyone at all: never granted through a list of members (a module says so by a flag).
_PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
# cdktn's string token marker (`Token.is_unresolved` tests this very pattern in Node.js).
_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def _unresolved(value: object) -> bool:
    """A reference known only at apply time (a cdktn token)? Decided in Python when the string
    holds no "${" or holds cdktn's token marker; only anything else asks Node.js."""
    if not isinstance(value, str) or "${" not in value:
        return False
    return _TOKEN.search(value) is not None or Token.is_unresolved(value)


def _fail(owner: str, name: str, allowed: str, got: object) -> NoReturn:
    """Refuse a value, naming where it is and what is allowed: `Props.field: ..., got ...`."""
    raise ValueError(f"{owner}.{name}: {allowed}, got {got!r}")


def _check(owner: str, name: str, ok: bool, allowed: str, got: object) -> None:
    if not ok:
        _fail(owner, name, allowed, got)


def _matches(pattern: re.Pattern[str], value: object, tokens: bool = False) -> bool:
    """`value` is a string that `pattern` matches whole: `re.fullmatch`, since `^...$` with
    `match` also takes a trailing newline. With `tokens`, a Terraform reference passes too."""
    if not isinstance(value, str):
        return False
    return (tokens and _unresolved(value)) or pattern.fullmatch(value) is not None


def _check_match(
    owner: str, name: str, pattern: re.Pattern[str], value: object, allowed: str, tokens: bool
) -> None:
    """`tokens`: whether a value known only at apply time (a reference) may stand for one."""
    _check(owner, name, _matches(pattern, value, tokens), allowed, value)


def _check_project_id(owner: str, value: object) -> None:
    allowed = "must be a project id: 6-30 of [a-z0-9-], starting with a letter"
    _check_match(owner, "project_id", _PROJECT_ID, value, allowed, tokens=True)


def _check_int(owner: str, name: str, value: object, bounds: tuple[int, int]) -> None:
    low, high = bounds
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    _check(owner, name, ok, f"must be an integer between {low} and {high}", value)


def _check_bool(owner: str, name: str, value: object) -> None:
    _check(owner, name, isinstance(value, bool), "must be true or false", value)


def _is_list(value: object) -> bool:
    """A list or tuple: a bare string is a mistake, not a list of one-letter items."""
    return isinstance(value, Sequence) and not isinstance(value, str)


def _check_labels(owner: str, labels: object) -> dict[str, str]:
    """Labels every labelled resource carries: `app` and `env` at least, in Google's syntax."""
    ok = isinstance(labels, Mapping) and {"app", "env"} <= set(labels)
    _check(owner, "labels", ok, "must be a mapping that includes 'app' and 'env'", labels)
    assert isinstance(labels, Mapping)
    for key, value in labels.items():
        allowed = "keys must be 1-63 of [a-z0-9_-], starting with a letter"
        _check(owner, "labels", _matches(_LABEL_KEY, key), allowed, f"{key}={value}")
        allowed = "values must be 0-63 of [a-z0-9_-]"
        _check(owner, "labels", _matches(_LABEL_VALUE, value), allowed, f"{key}={value}")
    return dict(labels)


def _check_members(owner: str, name: str, members: object) -> tuple[str, ...]:
    """IAM members such as 'serviceAccount:<email>', or references to them; never everyone."""
    _check(owner, name, _is_list(members), "must be a list of IAM members", members)
    assert isinstance(members, Sequence)
    for member in members:
        allowed = "each entry must be an IAM member like 'serviceAccount:<email>' (never allUsers)"
        ok = member not in _PUBLIC_MEMBERS and _matches(_MEMBER, member, tokens=True)
        _check(owner, name, ok, allowed, member)
    _check(owner, name, len(set(members)) == len(members), "must not repeat a member", members)
    return tuple(members)


def _check_iam(owner: str, iam: object) -> dict[str, tuple[str, ...]]:
    """Grants on a module's resource: role -> members, e.g. {'roles/x.y': ['group:g@e.com']}."""
    _check(owner, "iam", isinstance(iam, Mapping), "must map roles to lists of members", iam)
    assert isinstance(iam, Mapping)
    grants: dict[str, tuple[str, ...]] = {}
    for role, members in iam.items():
        allowed = "roles must look like 'roles/service.role' or a custom role's name"
        _check(owner, "iam", _matches(_ROLE, role), allowed, role)
        grants[role] = _check_members(owner, f"iam[{role}]", members)
    return grants


# --- shared helpers: end ---


def _check_kind(owner: str, name: str, value: object, kind: str) -> None:
    """One of `PATTERNS`; a value known only at apply time (a reference) passes."""
    pattern, allowed = PATTERNS[kind]
    _check_match(owner, name, pattern, value, allowed, tokens=True)


def _word(role: str) -> str:
    """A role's short name for a logical id: 'roles/pubsub.publisher' -> 'publisher'."""
    return re.sub(r"[^a-z0-9]+", "-", role.removeprefix("roles/pubsub.").lower()).strip("-")


@dataclass(frozen=True, kw_only=True)
class Topic:
    """A topic and who may use it: `iam` grants roles on this topic alone, role -> members
    (`roles/pubsub.publisher` for every identity whose code publishes there,
    `roles/pubsub.subscriber` for whoever attaches a subscription)."""

    name: str
    iam: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_kind(owner, "name", self.name, "topic")
        object.__setattr__(self, "iam", _check_iam(owner, self.iam))


@dataclass(frozen=True, kw_only=True)
class PushSubscription:
    """Pub/Sub pushes the messages of the topic `topic` (a key of `MessagingProps.topics`) to
    `endpoint` (https only), with an OIDC token of `service_account_email` for `audience`,
    both of which the receiver checks; it retries with exponential backoff and dead-letters
    after `max_delivery_attempts`. Durations are in seconds; limits are Pub/Sub's own."""

    topic: str
    endpoint: str
    service_account_email: str
    audience: str
    ack_deadline_seconds: int = 60
    minimum_backoff_seconds: int = 10
    maximum_backoff_seconds: int = 600
    max_delivery_attempts: int = 5

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_kind(owner, "endpoint", self.endpoint, "https")
        if self.endpoint.startswith("http://"):  # also when the host is a token
            _fail(owner, "endpoint", PATTERNS["https"][1], self.endpoint)
        _check_kind(owner, "service_account_email", self.service_account_email, "email")
        _check_kind(owner, "audience", self.audience, "audience")
        _check_int(owner, "ack_deadline_seconds", self.ack_deadline_seconds, ACK_DEADLINE)
        _check_int(owner, "minimum_backoff_seconds", self.minimum_backoff_seconds, BACKOFF)
        _check_int(owner, "maximum_backoff_seconds", self.maximum_backoff_seconds, BACKOFF)
        low, high = self.minimum_backoff_seconds, self.maximum_backoff_seconds
        allowed = f"must not exceed maximum_backoff_seconds ({high})"
        _check(owner, "minimum_backoff_seconds", low <= high, allowed, low)
        attempts = self.max_delivery_attempts
        _check_int(owner, "max_delivery_attempts", attempts, DELIVERY_ATTEMPTS)


@dataclass(frozen=True, kw_only=True)
class MessagingProps:
    """What `Messaging` builds: the `topics`, by key, and the push subscription of one of them.

    The topics' logical ids are their names without `name_prefix`, so that the Terraform
    addresses read like the names. `kms_key_name` encrypts the messages of every topic with a
    customer-managed key (Pub/Sub advises a `global` one); the Pub/Sub service agent needs
    `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it first: pass that grant in
    `depends_on_resources`.
    """

    project_id: str
    project_number: str
    name_prefix: str
    labels: Mapping[str, str]
    topics: Mapping[str, Topic]
    push: PushSubscription
    message_retention_seconds: int = 604800
    dead_letter_retention_seconds: int = 1209600
    kms_key_name: str | None = None
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        _check_kind(owner, "project_number", self.project_number, "number")
        _check_kind(owner, "name_prefix", self.name_prefix, "prefix")
        ok = isinstance(self.topics, Mapping) and bool(self.topics)
        _check(owner, "topics", ok, "must map at least one key to a Topic", self.topics)
        for key, topic in self.topics.items():
            allowed = "keys must be 1-30 of [a-z0-9-], starting with a letter"
            _check_match(owner, "topics", _KEY, key, allowed, tokens=False)
            _check(owner, f"topics[{key}]", isinstance(topic, Topic), "must be a Topic", topic)
        names = [topic.name for topic in self.topics.values()]
        _check(owner, "topics", len(set(names)) == len(names), "must not repeat a name", names)
        ok = isinstance(self.push, PushSubscription)
        _check(owner, "push", ok, "must be a PushSubscription", self.push)
        allowed = f"topic must be a key of topics ({', '.join(self.topics)})"
        _check(owner, "push", self.push.topic in self.topics, allowed, self.push.topic)
        _check_int(owner, "message_retention_seconds", self.message_retention_seconds, RETENTION)
        retention = self.dead_letter_retention_seconds
        _check_int(owner, "dead_letter_retention_seconds", retention, RETENTION)
        if self.kms_key_name is not None:
            _check_kind(owner, "kms_key_name", self.kms_key_name, "kms_key")
        object.__setattr__(self, "topics", dict(self.topics))
        object.__setattr__(self, "labels", _check_labels(owner, self.labels))


class Messaging(Construct):
    """The topics, the push subscription and its dead-letter path.

    Attributes: `topics` (by key), `dead_letter_topic`, `push_subscription`,
    `dead_letter_subscription` (resources); `topic_paths` (`projects/P/topics/NAME` by key,
    plain strings for an app's env), `push_subscription_name`,
    `dead_letter_subscription_name` (plain strings, for alerts); `pubsub_service_agent`
    (member string).
    """

    def __init__(self, scope: Construct, id: str, props: MessagingProps) -> None:
        super().__init__(scope, id)
        project, labels, push = props.project_id, dict(props.labels), props.push
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
        self.topics: dict[str, PubsubTopic] = {}
        self.topic_paths: dict[str, str] = {}
        for key, spec in props.topics.items():
            construct_id = spec.name.removeprefix(f"{props.name_prefix}-")
            self.topics[key] = topic(construct_id, spec.name, retention)
            self.topic_paths[key] = f"projects/{project}/topics/{spec.name}"
        pushed = props.topics[push.topic].name
        self.dead_letter_topic = topic(
            "dead-letter", f"{pushed}-dead-letter", props.dead_letter_retention_seconds
        )
        dead_letter_topic_id = self.dead_letter_topic.id  # read once: a round trip to Node.js

        never_expires = PubsubSubscriptionExpirationPolicy(ttl="")
        self.push_subscription_name = f"{pushed}-push"
        self.push_subscription = PubsubSubscription(
            self,
            "push",
            project=project,
            name=self.push_subscription_name,
            topic=self.topics[push.topic].id,
            labels=labels,
            ack_deadline_seconds=push.ack_deadline_seconds,
            message_retention_duration=f"{retention}s",
            expiration_policy=never_expires,
            push_config=PubsubSubscriptionPushConfig(
                push_endpoint=push.endpoint,
                oidc_token=PubsubSubscriptionPushConfigOidcToken(
                    service_account_email=push.service_account_email,
                    audience=push.audience,
                ),
            ),
            retry_policy=PubsubSubscriptionRetryPolicy(
                minimum_backoff=f"{push.minimum_backoff_seconds}s",
                maximum_backoff=f"{push.maximum_backoff_seconds}s",
            ),
            dead_letter_policy=PubsubSubscriptionDeadLetterPolicy(
                dead_letter_topic=dead_letter_topic_id,
                max_delivery_attempts=push.max_delivery_attempts,
            ),
            depends_on=after,
        )
        self.dead_letter_subscription_name = f"{pushed}-dead-letter-pull"
        self.dead_letter_subscription = PubsubSubscription(
            self,
            "dead-letter-pull",
            project=project,
            name=self.dead_letter_subscription_name,
            topic=dead_letter_topic_id,
            labels=labels,
            ack_deadline_seconds=push.ack_deadline_seconds,
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
        # Each topic's grants, `<key>-<role>-<n>`: bound on that topic alone.
        self.grants: dict[str, PubsubTopicIamMember] = {}
        for key, spec in props.topics.items():
            for role, members in spec.iam.items():
                for number, member in enumerate(members):
                    logical_id = f"{key}-{_word(role)}-{number}"
                    self.grants[logical_id] = PubsubTopicIamMember(
                        self,
                        logical_id,
                        project=project,
                        topic=self.topics[key].name,
                        role=role,
                        member=member,
                        depends_on=after,
                    )
