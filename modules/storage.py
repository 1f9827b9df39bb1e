"""Storage layer: Firestore for an app's durable state, Memorystore for Redis as a cache.

State that outlives any one Cloud Run instance lives in a Firestore database in native mode.
Expired documents are removed by Firestore TTL policies rather than by a sweeper job, and the
composite indexes an app's queries need are declared with the database (`indexes`), so that a
query never fails in production for want of an index. The module knows no app's collections:
without `ttl` and `indexes` it makes neither. Redis is only a short-term cache in front of
Firestore: environments without it simply do not create `RedisCache`.

Creates: `FirestoreDatabase` makes the database (point-in-time recovery and deletion
protection as asked), one TTL policy per collection of `ttl` on its field, the composite
indexes and, when `recovery.backup_retention_days` is set, a daily backup schedule.
`RedisCache` makes a Memorystore instance reached through Private Service Access with AUTH and
in-transit encryption on.

Example::

    database = FirestoreDatabase(stack, "state", FirestoreDatabaseProps(
        project_id="acme-shop-prod", location="europe-west1", name="shop-prod",
        deletion_protection=False,
        recovery=Recovery(point_in_time=True, backup_retention_days=7),
        ttl=TtlPolicy(collections=["carts"]),
        indexes=[CompositeIndex(collection="orders",
                                fields=[("customer", "ASCENDING"), ("placed_at", "DESCENDING")])]))
    cache = RedisCache(stack, "cache", RedisCacheProps(
        project_id="acme-shop-prod", region="europe-west1", name="shop-prod-cache",
        tier="basic", network_id="projects/acme-shop-prod/global/networks/shop-prod",
        labels={"app": "shop", "env": "prod"}))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_firestore_backup_schedule: 1
      google_firestore_database: 1
      google_firestore_field: 1
      google_firestore_index: 1
      google_redis_instance: 1
      resources: 5
    values:
      google_firestore_database.state_database:
        type: FIRESTORE_NATIVE
        point_in_time_recovery_enablement: POINT_IN_TIME_RECOVERY_ENABLED
        delete_protection_state: DELETE_PROTECTION_DISABLED
      google_firestore_backup_schedule.state_daily-backup: {retention: 604800s}
      google_firestore_field.state_ttl-carts: {field: expires_at, ttl_config: [{}]}
      google_firestore_index.state_index-orders-customer-placed_at:
        {collection: orders, query_scope: COLLECTION}
      google_redis_instance.cache_instance:
        auth_enabled: true
        transit_encryption_mode: SERVER_AUTHENTICATION
        connect_mode: PRIVATE_SERVICE_ACCESS
        tier: BASIC
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from cdktn import Token
from cdktn_provider_google.firestore_backup_schedule import (
    FirestoreBackupSchedule,
    FirestoreBackupScheduleDailyRecurrence,
)
from cdktn_provider_google.firestore_database import FirestoreDatabase as FirestoreDatabaseResource
from cdktn_provider_google.firestore_database import FirestoreDatabaseCmekConfig
from cdktn_provider_google.firestore_field import (
    FirestoreField,
    FirestoreFieldIndexConfig,
    FirestoreFieldTtlConfig,
)
from cdktn_provider_google.firestore_index import FirestoreIndex, FirestoreIndexFields
from cdktn_provider_google.redis_instance import (
    RedisInstance,
    RedisInstanceMaintenancePolicy,
    RedisInstanceMaintenancePolicyWeeklyMaintenanceWindow,
    RedisInstanceMaintenancePolicyWeeklyMaintenanceWindowStartTime,
)
from constructs import Construct

# Each kind of value: the pattern it must match and the words that say so in an error.
PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "location": (re.compile(r"[a-z][a-z0-9-]+[a-z0-9]"), "must be a location like 'eur3'"),
    "database": (
        re.compile(r"(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])"),
        "must be '(default)' or 4-63 of [a-z0-9-] starting with a letter",
    ),
    "collection": (re.compile(r"[A-Za-z0-9_-]{1,100}"), "must be 1-100 of [A-Za-z0-9_-]"),
    "field": (
        re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"),
        "must be a field path such as 'expires_at'",
    ),
    "redis": (
        re.compile(r"[a-z][a-z0-9-]{0,38}[a-z0-9]"),
        "must be 1-40 of [a-z0-9-], starting with a letter",
    ),
    "network": (
        re.compile(r"projects/[^/]+/global/networks/[^/]+"),
        "must be 'projects/<project>/global/networks/<name>'",
    ),
    "version": (re.compile(r"REDIS_[0-9]+(_[0-9X]+)?"), "must be like 'REDIS_7_2'"),
    "kms_key": (
        re.compile(r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+"),
        "must be a Cloud KMS key: 'projects/P/locations/L/keyRings/R/cryptoKeys/K'",
    ),
}
ORDERS = ("ASCENDING", "DESCENDING")
QUERY_SCOPES = ("COLLECTION", "COLLECTION_GROUP")
REDIS_TIERS = {"basic": "BASIC", "standard_ha": "STANDARD_HA"}
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MAX_BACKUP_RETENTION_DAYS = 98  # Firestore keeps scheduled backups for at most 14 weeks.
REDIS_MEMORY_GB = (1, 300)  # Memorystore for Redis' instance sizes
# Where a Firestore multi-region's customer-managed key must be (a region's key is in it).
FIRESTORE_KMS_LOCATIONS = {"nam5": "us", "eur3": "europe"}

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


def _check_key(owner: str, value: Any, location: str, where: str) -> None:
    """A customer-managed key (or a token) whose location, when literal, is `location`."""
    _check_kind(owner, "kms_key_name", value, "kms_key")
    if not _unresolved(value) and value.split("/")[3] != location:
        allowed = f"must be a key in Cloud KMS location '{location}' ({where})"
        _fail(owner, "kms_key_name", allowed, value)


def _sequence(owner: str, field: str, value: Any) -> tuple[Any, ...]:
    """A list or tuple without repeats (a bare string is a mistake, not a sequence)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        _fail(owner, field, "must be a list", value)
    if any(item in value[:number] for number, item in enumerate(value)):
        _fail(owner, field, "must not repeat an item", value)
    return tuple(value)


def _check_choice(owner: str, field: str, value: Any, choices: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        _fail(owner, field, f"must be one of {', '.join(choices)}", value)


@dataclass(frozen=True, kw_only=True)
class CompositeIndex:
    """A Firestore composite index: `fields` are (field path, "ASCENDING"|"DESCENDING") pairs."""

    collection: str
    fields: Sequence[tuple[str, str]]
    query_scope: str = "COLLECTION"

    def __post_init__(self) -> None:
        _check_kind("CompositeIndex", "collection", self.collection, "collection")
        fields = _sequence("CompositeIndex", "fields", self.fields)
        pairs = tuple(tuple(pair) if isinstance(pair, list) else pair for pair in fields)
        if len(pairs) < 2:
            _fail("CompositeIndex", "fields", "a composite index needs at least 2 fields", pairs)
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2 or pair[1] not in ORDERS:
                _fail(
                    "CompositeIndex", "fields", "items must be (path, ASCENDING|DESCENDING)", pair
                )
            _check_kind("CompositeIndex", "fields", pair[0], "field")
        _sequence("CompositeIndex", "fields", [path for path, _ in pairs])
        _check_choice("CompositeIndex", "query_scope", self.query_scope, QUERY_SCOPES)
        object.__setattr__(self, "fields", pairs)


@dataclass(frozen=True, kw_only=True)
class Recovery:
    """How lost data comes back: `point_in_time` recovery (any moment of the last 7 days) and,
    with `backup_retention_days`, a daily backup kept that many days."""

    point_in_time: bool
    backup_retention_days: int | None = None

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_bool(owner, "point_in_time", self.point_in_time)
        if self.backup_retention_days is not None:
            days = self.backup_retention_days
            _check_int(owner, "backup_retention_days", days, (1, MAX_BACKUP_RETENTION_DAYS))


@dataclass(frozen=True, kw_only=True)
class TtlPolicy:
    """Which documents expire: those of `collections` whose timestamp `field` has passed.

    `field_indexed=False` exempts the TTL field from single-field indexing: nothing queries
    it, and an indexed, steadily increasing timestamp hot-spots at high write rates."""

    collections: Sequence[str] = ()
    field: str = "expires_at"
    field_indexed: bool = False

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for collection in _sequence(owner, "collections", self.collections):
            _check_kind(owner, "collections", collection, "collection")
        _check_kind(owner, "field", self.field, "field")
        _check_bool(owner, "field_indexed", self.field_indexed)
        object.__setattr__(self, "collections", tuple(self.collections))


@dataclass(frozen=True, kw_only=True)
class FirestoreDatabaseProps:
    """What `FirestoreDatabase` builds; `ttl` and `indexes` are the app's (none by default).

    `kms_key_name` encrypts the database with a customer-managed key, in the database's
    location (`FIRESTORE_KMS_LOCATIONS` for a multi-region), chosen at creation only (another
    key replaces the database); the Firestore service agent needs
    `roles/cloudkms.cryptoKeyEncrypterDecrypter` on it first: pass that grant in
    `depends_on_resources`.
    """

    project_id: str
    location: str
    name: str = "(default)"
    deletion_protection: bool
    recovery: Recovery
    ttl: TtlPolicy = field(default_factory=TtlPolicy)
    indexes: Sequence[CompositeIndex] = ()
    kms_key_name: str | None = None
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = "FirestoreDatabaseProps"
        _check_project_id(owner, self.project_id)
        _check_kind(owner, "location", self.location, "location")
        _check_kind(owner, "name", self.name, "database")
        _check_bool(owner, "deletion_protection", self.deletion_protection)
        for name, kind in (("recovery", Recovery), ("ttl", TtlPolicy)):
            value = getattr(self, name)
            _check(owner, name, isinstance(value, kind), f"must be a {kind.__name__}", value)
        for index in _sequence(owner, "indexes", self.indexes):
            if not isinstance(index, CompositeIndex):
                _fail(owner, "indexes", "items must be CompositeIndex", index)
        if self.kms_key_name is not None:
            location = FIRESTORE_KMS_LOCATIONS.get(self.location, self.location)
            _check_key(owner, self.kms_key_name, location, "the database's location")
        object.__setattr__(self, "indexes", tuple(self.indexes))
        object.__setattr__(self, "depends_on_resources", tuple(self.depends_on_resources))


class FirestoreDatabase(Construct):
    """A native-mode Firestore database with its TTL policies, indexes and backups.

    Attributes: `database` (the google_firestore_database), `database_name` (plain string, the
    value an app is configured with), `ttl_fields`, `indexes`, `backup_schedule` (None without
    `recovery.backup_retention_days`).
    """

    def __init__(self, scope: Construct, id: str, props: FirestoreDatabaseProps) -> None:
        super().__init__(scope, id)
        # A protected database outlives `terraform destroy`; so do the settings its data needs.
        policy = "ABANDON" if props.deletion_protection else "DELETE"
        pitr = "ENABLED" if props.recovery.point_in_time else "DISABLED"
        protection = "ENABLED" if props.deletion_protection else "DISABLED"
        self.database_name = props.name
        after = list(props.depends_on_resources) or None
        self.database = FirestoreDatabaseResource(
            self,
            "database",
            project=props.project_id,
            name=props.name,
            location_id=props.location,
            type="FIRESTORE_NATIVE",
            concurrency_mode="OPTIMISTIC",
            app_engine_integration_mode="DISABLED",
            point_in_time_recovery_enablement=f"POINT_IN_TIME_RECOVERY_{pitr}",
            delete_protection_state=f"DELETE_PROTECTION_{protection}",
            deletion_policy=policy,
            cmek_config=(
                FirestoreDatabaseCmekConfig(kms_key_name=props.kms_key_name)
                if props.kms_key_name is not None
                else None
            ),
            depends_on=after,
        )
        database = self.database.name
        self.ttl_fields = [
            FirestoreField(
                self,
                f"ttl-{collection}",
                project=props.project_id,
                database=database,
                collection=collection,
                field=props.ttl.field,
                ttl_config=FirestoreFieldTtlConfig(),
                # An empty index_config turns the field's single-field indexes off.
                index_config=None if props.ttl.field_indexed else FirestoreFieldIndexConfig(),
                deletion_policy=policy,
                depends_on=after,
            )
            for collection in props.ttl.collections
        ]
        self.indexes = [
            FirestoreIndex(
                self,
                "index-" + "-".join([index.collection, *(path for path, _ in index.fields)]),
                project=props.project_id,
                database=database,
                collection=index.collection,
                query_scope=index.query_scope,
                deletion_policy=policy,
                fields=[
                    FirestoreIndexFields(field_path=path, order=order)
                    for path, order in index.fields
                ],
                depends_on=after,
            )
            for index in props.indexes
        ]
        self.backup_schedule = None
        days = props.recovery.backup_retention_days
        if days is not None:
            self.backup_schedule = FirestoreBackupSchedule(
                self,
                "daily-backup",
                project=props.project_id,
                database=database,
                retention=f"{days * 86400}s",
                daily_recurrence=FirestoreBackupScheduleDailyRecurrence(),
                deletion_policy=policy,
                depends_on=after,
            )


@dataclass(frozen=True, kw_only=True)
class MaintenanceWindow:
    """When Memorystore may update the instance each week: `day`, from `hour_utc` (one hour)."""

    day: str = "SUNDAY"
    hour_utc: int = 3

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_choice(owner, "day", self.day, DAYS)
        _check_int(owner, "hour_utc", self.hour_utc, (0, 23))


@dataclass(frozen=True, kw_only=True)
class RedisCacheProps:
    """What `RedisCache` builds. `network_id` is the VPC's id (`projects/P/global/networks/N`);
    `depends_on_resources` should also hold the Private Service Access connection.
    `kms_key_name` encrypts the instance with a customer-managed key in its region, chosen at
    creation only; the Memorystore service agent needs `roles/cloudkms.cryptoKeyEncrypterDecrypter`
    on it first: pass that grant in `depends_on_resources` too."""

    project_id: str
    region: str
    name: str
    tier: str
    memory_size_gb: int = 1
    network_id: str
    redis_version: str = "REDIS_7_2"
    labels: Mapping[str, str]
    maintenance: MaintenanceWindow = field(default_factory=MaintenanceWindow)
    deletion_protection: bool = False
    kms_key_name: str | None = None
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = "RedisCacheProps"
        _check_project_id(owner, self.project_id)
        _check_kind(owner, "region", self.region, "location")
        _check_kind(owner, "name", self.name, "redis")
        _check_choice(owner, "tier", self.tier, tuple(REDIS_TIERS))
        _check_int(owner, "memory_size_gb", self.memory_size_gb, REDIS_MEMORY_GB)
        _check_kind(owner, "network_id", self.network_id, "network")
        _check_kind(owner, "redis_version", self.redis_version, "version")
        ok = isinstance(self.maintenance, MaintenanceWindow)
        _check(owner, "maintenance", ok, "must be a MaintenanceWindow", self.maintenance)
        _check_bool(owner, "deletion_protection", self.deletion_protection)
        if self.kms_key_name is not None:
            _check_key(owner, self.kms_key_name, self.region, "the instance's region")
        object.__setattr__(self, "labels", _check_labels(owner, self.labels))
        object.__setattr__(self, "depends_on_resources", tuple(self.depends_on_resources))


class RedisCache(Construct):
    """A Memorystore for Redis instance with AUTH and TLS, private to the VPC.

    Attributes: `instance`, `host`, `port` (tokens), `auth_string` (sensitive token: put it in
    Secret Manager, never in a plain env var), `server_ca_cert` (PEM of the first CA, for TLS
    verification by the client).
    """

    def __init__(self, scope: Construct, id: str, props: RedisCacheProps) -> None:
        super().__init__(scope, id)
        window = RedisInstanceMaintenancePolicyWeeklyMaintenanceWindow(
            day=props.maintenance.day,
            start_time=RedisInstanceMaintenancePolicyWeeklyMaintenanceWindowStartTime(
                hours=props.maintenance.hour_utc, minutes=0, seconds=0, nanos=0
            ),
        )
        self.instance = RedisInstance(
            self,
            "instance",
            project=props.project_id,
            region=props.region,
            name=props.name,
            display_name=props.name,
            tier=REDIS_TIERS[props.tier],
            memory_size_gb=props.memory_size_gb,
            redis_version=props.redis_version,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            authorized_network=props.network_id,
            auth_enabled=True,
            transit_encryption_mode="SERVER_AUTHENTICATION",
            maintenance_policy=RedisInstanceMaintenancePolicy(weekly_maintenance_window=[window]),
            deletion_protection=props.deletion_protection,
            customer_managed_key=props.kms_key_name,
            labels=dict(props.labels),
            depends_on=list(props.depends_on_resources) or None,
        )
        self.host = self.instance.host
        self.port = self.instance.port
        self.auth_string = self.instance.auth_string
        self.server_ca_cert = self.instance.server_ca_certs.get(0).cert
