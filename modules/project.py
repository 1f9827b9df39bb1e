"""Enable the Google Cloud APIs a stack needs, once per project.

Why: every other layer fails on a fresh project until its API is on, and a `terraform destroy`
must never switch an API off under other workloads that share the project. So each API gets
its own `google_project_service` with `disable_on_destroy=False` and
`disable_dependent_services=False`. The services themselves depend on nothing.

Other layers wait for the APIs through one gate, `ProjectServices.ready`: a `terraform_data`
resource (Terraform's built-in provider: nothing to configure or download; Terraform >= 1.4)
that depends on every service. Pass `[apis.ready]` as each other module's `depends_on_resources`:
Terraform creates every API, then the gate, then what waits for it, and destroys in the
reverse order, exactly as if each resource named all the APIs. One entry instead of one per API
also keeps the synth fast, since cdktn resolves each `depends_on` entry of each resource.

Creates: one `google_project_service` per entry of `ProjectServicesProps.services`, and the
`terraform_data` gate that depends on all of them.

Example::

    apis = ProjectServices(stack, "apis", ProjectServicesProps(
        project_id="acme-shop-prod",
        services=["run.googleapis.com", "sqladmin.googleapis.com", "storage.googleapis.com"],
    ))
    run_api = apis.services["run.googleapis.com"]
    after_apis = [apis.ready]  # any module's depends_on_resources

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts: {google_project_service: 3, terraform_data: 1, resources: 4}
    values:
      google_project_service.apis_run-googleapis-com:
        {service: run.googleapis.com, disable_on_destroy: false}
      google_project_service.apis_sqladmin-googleapis-com:
        {service: sqladmin.googleapis.com, disable_on_destroy: false}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from cdktn import TerraformResource, Token
from cdktn_provider_google.project_service import ProjectService
from constructs import Construct

_SERVICE = re.compile(r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)*\.googleapis\.com")


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


@dataclass(frozen=True, kw_only=True)
class ProjectServicesProps:
    """The project and the APIs to enable in it."""

    project_id: str
    services: Sequence[str]

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_project_id(owner, self.project_id)
        ok = _is_list(self.services) and len(self.services) > 0
        _check(owner, "services", ok, "must be a non-empty list of API names", self.services)
        for service in self.services:
            allowed = "each entry must be an API name like 'run.googleapis.com'"
            _check_match(owner, "services", _SERVICE, service, allowed, tokens=False)
        duplicates = sorted({s for s in self.services if list(self.services).count(s) > 1})
        _check(owner, "services", not duplicates, "each API may appear once", duplicates)


class ProjectServices(Construct):
    """The enabled APIs of one project.

    Attributes:
        services: the `ProjectService` resource of each API, by API name.
        resources: every `ProjectService`, in the order of `ProjectServicesProps.services`.
        ready: the `terraform_data` gate: one resource that exists once every API is enabled;
            depend on it instead of on each API (other modules'
            `depends_on_resources=[apis.ready]`).
    """

    def __init__(self, scope: Construct, id: str, props: ProjectServicesProps) -> None:
        super().__init__(scope, id)
        self.services: dict[str, ProjectService] = {}
        for service in props.services:
            self.services[service] = ProjectService(
                self,
                service.replace(".", "-"),
                project=props.project_id,
                service=service,
                disable_on_destroy=False,
                disable_dependent_services=False,
            )
        self.resources: list[ProjectService] = list(self.services.values())
        # A plain `TerraformResource` of type `terraform_data`, not cdktn's `DataResource`: the
        # JSON is the same, but `DataResource` checks at synth time by running `terraform
        # version`, so every synth would need the Terraform binary on PATH.
        self.ready = TerraformResource(
            self, "ready", terraform_resource_type="terraform_data", depends_on=self.resources
        )
