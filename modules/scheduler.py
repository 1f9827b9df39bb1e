"""A Cloud Scheduler job that calls a Cloud Run endpoint on a cron, with an OIDC token.

Why: a Cloud Run service with request-based billing (cpu_idle) has CPU only while it serves a
request, and one that scales to zero has no instance at all, so periodic upkeep in a
background thread may never run. A scheduled HTTP call makes the upkeep a request: it runs,
it is logged with its status, and failures are retried. The job calls as a service account
whose Google-signed OIDC token the target verifies (Cloud Run's `roles/run.invoker` for
that account, and the app's own check of the token's audience and email).

No extra IAM here: Cloud Scheduler's service agent
(`service-<project_number>@gcp-sa-cloudscheduler.iam.gserviceaccount.com`) mints the token
through the Cloud Scheduler Service Agent role (`roles/cloudscheduler.serviceAgent`, which
holds `iam.serviceAccounts.getOpenIdToken`), granted on the project when the API is enabled.
Only a project whose Cloud Scheduler API was enabled before 19 March 2019 must grant that role
itself. Whoever applies needs `iam.serviceAccounts.actAs` on the calling account. A target
with ingress `internal` is reachable: Cloud Scheduler in the same project counts as internal.

Creates: one `google_cloud_scheduler_job` `<name>` in `region` with an `http_target` (POST to
`target.url`, `oidc_token` of `target.service_account_email` for `target.audience`),
`attempt_deadline` and
`retry_config.retry_count`. Cloud Scheduler jobs take no labels.

Example::

    report = ScheduledCall(stack, "nightly-report", ScheduledCallProps(
        project_id="acme-shop-prod",
        region="europe-west1",
        name="shop-prod-nightly-report",
        target=OidcTarget(
            url="https://shop-prod-reports-123456789012.europe-west1.run.app/tasks/report",
            service_account_email="shop-prod-cron@acme-shop-prod.iam.gserviceaccount.com",
            audience="https://shop-prod-reports-123456789012.europe-west1.run.app",
        ),
        schedule="30 2 * * *",
        time_zone="Europe/Paris",
        description="Sends yesterday's sales report.",
    ))

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts: {google_cloud_scheduler_job: 1, resources: 1}
    values:
      google_cloud_scheduler_job.nightly-report_job:
        name: shop-prod-nightly-report
        schedule: "30 2 * * *"
        time_zone: Europe/Paris
        retry_config: [{retry_count: 1}]
        http_target:
          - http_method: POST
            uri: "https://shop-prod-reports-123456789012.europe-west1.run.app/tasks/report"
            oidc_token:
              - service_account_email: shop-prod-cron@acme-shop-prod.iam.gserviceaccount.com
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from cdktn import Token
from cdktn_provider_google.cloud_scheduler_job import (
    CloudSchedulerJob,
    CloudSchedulerJobHttpTarget,
    CloudSchedulerJobHttpTargetOidcToken,
    CloudSchedulerJobRetryConfig,
)
from constructs import Construct

PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "region": (re.compile(r"[a-z]+-[a-z]+[0-9]+"), "must be a region such as 'europe-west1'"),
    "name": (
        re.compile(r"[A-Za-z0-9_-]{1,500}"),
        "must be 1-500 letters, digits, hyphens or underscores",
    ),
    "https": (re.compile(r"https://[^\s/]+(/\S*)?"), "must be an https:// URL"),
    "email": (re.compile(r"[^@\s]+@[^@\s]+\.[a-z]+"), "must be a service account email"),
    "audience": (re.compile(r"\S+"), "must be a non-empty string without spaces"),
    "time_zone": (
        re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*"),
        "must be a tz database name such as 'Etc/UTC' or 'Europe/Paris'",
    ),
}
# Cloud Scheduler's own limits.
ATTEMPT_DEADLINE_SECONDS = (15, 1800)  # for HTTP targets
RETRY_COUNT = (0, 5)
MAX_DESCRIPTION = 500

# unix-cron: minute hour day-of-month month day-of-week, each a list of `*`, `a` or `a-b`,
# optionally `/step`; months and weekdays may be named (JAN, MON).
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _WEEKDAYS),
)
_CRON_ITEM = re.compile(r"(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?")

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


def _check_kind(owner: str, name: str, value: object, kind: str, tokens: bool = False) -> None:
    """One of `PATTERNS`; with `tokens`, a value known only at apply time passes."""
    pattern, allowed = PATTERNS[kind]
    _check_match(owner, name, pattern, value, allowed, tokens)


def _cron_value(raw: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    if raw.upper() in names:
        return names.index(raw.upper()) + (1 if low == 1 else 0)
    if raw.isdigit() and low <= int(raw) <= high:
        return int(raw)
    return None


def check_cron(owner: str, field: str, schedule: Any) -> None:
    """A unix-cron expression of exactly 5 fields, each value within its field's range."""
    shape = (
        "must be a unix-cron expression of 5 fields (minute hour day-of-month month"
        " day-of-week), e.g. '*/5 * * * *'"
    )
    if not isinstance(schedule, str) or len(schedule.split()) != len(_CRON_FIELDS):
        _fail(owner, field, shape, schedule)
    for part, (name, low, high, names) in zip(schedule.split(), _CRON_FIELDS, strict=True):
        allowed = f"{name} must be {low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
        for item in part.split(","):
            found = _CRON_ITEM.fullmatch(item)
            if found is None:
                _fail(owner, field, f"{shape}; {allowed}, with *, a-b, /step and commas", item)
            star, first, last, step = found.groups()
            if not star:
                start = _cron_value(first, low, high, names)
                end = start if last is None else _cron_value(last, low, high, names)
                if start is None or end is None or end < start:
                    _fail(owner, field, f"{allowed} (ranges ascending) in {schedule!r}", item)
            if step is not None and not 1 <= int(step) <= high:
                _fail(owner, field, f"{name} step must be 1-{high} in {schedule!r}", item)


@functools.cache
def _known_time_zones() -> frozenset[str]:
    """The installed tz database's names, read once: listing it walks the whole directory."""
    return frozenset(zoneinfo.available_timezones())


def _check_time_zone(owner: str, value: Any) -> None:
    _check_kind(owner, "time_zone", value, "time_zone")
    known = _known_time_zones()  # empty where no tz database is installed
    if known and value not in known:
        _fail(owner, "time_zone", PATTERNS["time_zone"][1], value)


@dataclass(frozen=True, kw_only=True)
class OidcTarget:
    """Where the call goes and who makes it: `url` is the full https URL to POST to;
    `service_account_email` is the account whose OIDC token the call carries (it needs
    `roles/run.invoker` on a Cloud Run target) and `audience` the token's audience, both of
    which the target checks."""

    url: str
    service_account_email: str
    audience: str

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_kind(owner, "url", self.url, "https", tokens=True)
        _check_kind(
            owner, "service_account_email", self.service_account_email, "email", tokens=True
        )
        _check_kind(owner, "audience", self.audience, "audience", tokens=True)


@dataclass(frozen=True, kw_only=True)
class ScheduledCallProps:
    """What `ScheduledCall` builds.

    `schedule` is unix-cron in `time_zone`; `attempt_deadline_seconds` is how long one call
    may take before Cloud Scheduler cancels it, and `retry_count` how often a failed call is
    retried (with backoff) before the next scheduled run.
    """

    project_id: str
    region: str
    name: str
    target: OidcTarget
    schedule: str = "*/5 * * * *"
    time_zone: str = "Etc/UTC"
    attempt_deadline_seconds: int = 60
    retry_count: int = 1
    description: str = "Calls the target service on a schedule."
    paused: bool = False
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        _check_kind(owner, "region", self.region, "region")
        _check_kind(owner, "name", self.name, "name")
        ok = isinstance(self.target, OidcTarget)
        _check(owner, "target", ok, "must be an OidcTarget", self.target)
        check_cron(owner, "schedule", self.schedule)
        _check_time_zone(owner, self.time_zone)
        _check_int(
            owner,
            "attempt_deadline_seconds",
            self.attempt_deadline_seconds,
            ATTEMPT_DEADLINE_SECONDS,
        )
        _check_int(owner, "retry_count", self.retry_count, RETRY_COUNT)
        if not isinstance(self.description, str) or len(self.description) > MAX_DESCRIPTION:
            _fail(
                owner,
                "description",
                f"must be text of at most {MAX_DESCRIPTION} characters",
                self.description,
            )
        if not isinstance(self.paused, bool):
            _fail(owner, "paused", "must be true or false", self.paused)


class ScheduledCall(Construct):
    """A cron-driven, OIDC-authenticated POST to one endpoint.

    Attributes:
        job: the `CloudSchedulerJob` resource.
        job_name: its name (plain string), as Cloud Scheduler's logs show it.
        job_id: `projects/P/locations/R/jobs/NAME` (plain string).
    """

    def __init__(self, scope: Construct, id: str, props: ScheduledCallProps) -> None:
        super().__init__(scope, id)
        self.job = CloudSchedulerJob(
            self,
            "job",
            project=props.project_id,
            region=props.region,
            name=props.name,
            description=props.description,
            schedule=props.schedule,
            time_zone=props.time_zone,
            paused=props.paused,
            attempt_deadline=f"{props.attempt_deadline_seconds}s",
            retry_config=CloudSchedulerJobRetryConfig(retry_count=props.retry_count),
            http_target=CloudSchedulerJobHttpTarget(
                uri=props.target.url,
                http_method="POST",
                oidc_token=CloudSchedulerJobHttpTargetOidcToken(
                    service_account_email=props.target.service_account_email,
                    audience=props.target.audience,
                ),
            ),
            depends_on=list(props.depends_on_resources) or None,
        )
        self.job_name = props.name
        self.job_id = f"projects/{props.project_id}/locations/{props.region}/jobs/{props.name}"
