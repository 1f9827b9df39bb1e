"""Customer-managed encryption keys (CMEK): one Cloud KMS key per use, and the grants it needs.

Why: organisations whose policies demand customer-managed keys cannot run a stack that leaves
its data under Google-managed keys. Each Google service encrypts with a customer-managed key
through its own service agent (a Google-managed service account of the project), which needs
`roles/cloudkms.cryptoKeyEncrypterDecrypter` on that key before the first resource using it is
created: a database, topic or repository created before the grant fails. So this module makes
the key, grants it to the one agent that uses it, and hands out `ready[use]`, the grant, for
the resources using the key to wait for.

Creates: one key ring per location (the same name in each: a key must sit where the data it
encrypts sits), one `google_kms_crypto_key` per use, as its `Key` says (named after the use,
symmetric, in `location`, rotated every `rotation_days`, and with `prevent_destroy` while
`deletion_protection` holds: destroying a key's versions makes everything it encrypted
unreadable for good), the grant on each key to its service's agent, and, with
`create_service_agents`, one `terraform_data` per use that has that agent created first.

Each use, its service agent (`service-<project number>@<domain>`) and where its key must be:

- `firestore`: `gcp-sa-firestore`; the database's location (`nam5` -> `us`, `eur3` -> `europe`)
- `pubsub`: `gcp-sa-pubsub`; `global`, as Pub/Sub advises (topics are global)
- `artifact-registry`: `gcp-sa-artifactregistry`; the repository's region
- `secrets`: `gcp-sa-secretmanager`; `global` for automatically replicated secrets
- `redis`: `cloud-redis`; the instance's region
- `run`: `serverless-robot-prod`; the service's region

Why `terraform_data` creates the service agents: some exist only once their API is first used
(Artifact Registry's appears with the first repository; Firestore's and Secret Manager's only
when asked for), and a grant to an agent that does not exist yet fails. The provider's
`google_project_service_identity` is in google-beta only, so each `terraform_data` calls the
same Service Usage method (`services.generateServiceIdentity`, which returns the existing agent
when there is one) with `curl`, once per use and again when the project or service changes.
The machine that applies needs `/bin/sh`, `curl` 7.76 or later and `gcloud`, with Application
Default Credentials allowed to use the project's services (`serviceusage.services.use`, in
Owner and Editor). Pass `create_service_agents=False` when something else creates them.

Key rings and keys can never be deleted from a project: a destroy only forgets a key ring, and
destroys a key's versions (after 30 days) while its name stays taken. A later apply of the same
names needs `terraform import` of the ring and the keys.

Example::

    kms = Kms(stack, "kms", KmsProps(
        project_id="acme-shop-prod", project_number="345678901234", key_ring="shop-prod",
        keys={"pubsub": Key(location="global"),
              "artifact-registry": Key(location="europe-west1", rotation_days=30)},
        labels={"app": "shop", "env": "prod"}))
    topic_key = kms.key_ids["pubsub"]         # the topics' kms_key_name
    after_grant = kms.ready["pubsub"]         # what the topics wait for

What `terraform plan` of this example alone must show (tests/modules/test_copy_alone.py):

Inventory::

    counts:
      google_kms_crypto_key: 2
      google_kms_crypto_key_iam_member: 2
      google_kms_key_ring: 2
      terraform_data: 2
      resources: 8
    values:
      google_kms_key_ring.kms_ring-global: {name: shop-prod, location: global}
      google_kms_key_ring.kms_ring-europe-west1: {name: shop-prod, location: europe-west1}
      google_kms_crypto_key.kms_key-pubsub:
        {name: pubsub, purpose: ENCRYPT_DECRYPT, rotation_period: 7776000s}
      google_kms_crypto_key.kms_key-artifact-registry:
        {name: artifact-registry, rotation_period: 2592000s}
      google_kms_crypto_key_iam_member.kms_grant-pubsub:
        role: roles/cloudkms.cryptoKeyEncrypterDecrypter
        member: "serviceAccount:service-345678901234@gcp-sa-pubsub.iam.gserviceaccount.com"
      terraform_data.kms_agent-artifact-registry:
        triggers_replace:
          {project: acme-shop-prod, service: artifactregistry.googleapis.com}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from cdktn import LocalExecProvisioner, TerraformResource, TerraformResourceLifecycle, Token
from cdktn_provider_google.kms_crypto_key import KmsCryptoKey
from cdktn_provider_google.kms_crypto_key_iam_member import KmsCryptoKeyIamMember
from cdktn_provider_google.kms_key_ring import KmsKeyRing
from constructs import Construct

# Each use: the API whose service agent encrypts with its key, and that agent's domain.
USES: dict[str, tuple[str, str]] = {
    "firestore": ("firestore.googleapis.com", "gcp-sa-firestore.iam.gserviceaccount.com"),
    "pubsub": ("pubsub.googleapis.com", "gcp-sa-pubsub.iam.gserviceaccount.com"),
    "artifact-registry": (
        "artifactregistry.googleapis.com",
        "gcp-sa-artifactregistry.iam.gserviceaccount.com",
    ),
    "secrets": ("secretmanager.googleapis.com", "gcp-sa-secretmanager.iam.gserviceaccount.com"),
    "redis": ("redis.googleapis.com", "cloud-redis.iam.gserviceaccount.com"),
    "run": ("run.googleapis.com", "serverless-robot-prod.iam.gserviceaccount.com"),
}
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
ROTATION_DAYS = (1, 3650)  # Cloud KMS rotates at most once a day
SERVICE_USAGE_API = "https://serviceusage.googleapis.com/v1beta1"

_PROJECT_NUMBER = re.compile(r"[1-9][0-9]{5,19}")
_KEY_RING = re.compile(r"[a-zA-Z0-9_-]{1,63}")
_LOCATION = re.compile(r"global|[a-z]+[0-9]*|[a-z]+-[a-z]+[0-9]+")

# POSIX sh, run by Terraform with PROJECT and SERVICE in its environment. The token reaches
# curl on stdin (`--header @-`), never a command line. generateServiceIdentity answers with a
# long-running operation; calling it again is harmless, so it is called until it says done.
AGENT_COMMAND = f"""set -eu
token=$(gcloud auth application-default print-access-token)
answer=$(mktemp)
trap 'rm -f "$answer"' EXIT
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  if ! printf 'Authorization: Bearer %s\\n' "$token" | curl --silent --show-error \\
      --fail-with-body --request POST --header @- \\
      --header "x-goog-user-project: $PROJECT" --header 'content-type: application/json' \\
      --data '{{}}' --output "$answer" \\
      "{SERVICE_USAGE_API}/projects/$PROJECT/services/$SERVICE:generateServiceIdentity"; then
    cat "$answer" >&2
    exit 1
  fi
  if grep -q '"error"' "$answer"; then
    cat "$answer" >&2
    exit 1
  fi
  if grep -q '"done": *true' "$answer"; then
    echo "service agent of $SERVICE in $PROJECT: ready"
    exit 0
  fi
  sleep 3
done
echo "the service agent of $SERVICE in $PROJECT was not ready after $attempt calls" >&2
exit 1
"""


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


def key_id(project_id: str, location: str, key_ring: str, use: str) -> str:
    """The resource name of the key this module makes for `use` (known before it exists)."""
    return f"projects/{project_id}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{use}"


@dataclass(frozen=True, kw_only=True)
class Key:
    """One use's key: the Cloud KMS `location` it sits in (where the data it encrypts is; see
    the module docstring) and how often a new primary version replaces the last."""

    location: str
    rotation_days: int = 90

    def __post_init__(self) -> None:
        owner = type(self).__name__
        allowed = "must be a Cloud KMS location like 'global', 'europe' or 'europe-west1'"
        _check_match(owner, "location", _LOCATION, self.location, allowed, tokens=False)
        _check_int(owner, "rotation_days", self.rotation_days, ROTATION_DAYS)


@dataclass(frozen=True, kw_only=True)
class KmsProps:
    """The keys to make: `keys` maps each use (a key of `USES`) to its `Key`, in key rings
    named `key_ring`, one per location. `deletion_protection` puts `prevent_destroy` on the
    keys; keep it on wherever the data they encrypt is kept."""

    project_id: str
    project_number: str
    key_ring: str
    keys: Mapping[str, Key]
    labels: Mapping[str, str]
    deletion_protection: bool = True
    create_service_agents: bool = True
    depends_on_resources: Sequence[Any] = ()
    """Resources every resource of this module waits for (e.g. `[ProjectServices.ready]`, the
    gate that exists once every API of a fresh project is enabled, Cloud KMS's included)."""

    def __post_init__(self) -> None:
        owner, keys = type(self).__name__, self.keys
        _check_project_id(owner, self.project_id)
        allowed = "must be the project's number, digits only"
        _check_match(owner, "project_number", _PROJECT_NUMBER, self.project_number, allowed, False)
        allowed = "must be 1-63 letters, digits, _ or -"
        _check_match(owner, "key_ring", _KEY_RING, self.key_ring, allowed, tokens=False)
        ok = isinstance(keys, Mapping) and bool(keys)
        _check(owner, "keys", ok, "must map at least one use to its Key", keys)
        _check_bool(owner, "deletion_protection", self.deletion_protection)
        _check_bool(owner, "create_service_agents", self.create_service_agents)
        for use, key in keys.items():
            if use not in USES:
                _fail(owner, "keys", f"uses must be among {', '.join(USES)}", use)
            _check(owner, f"keys[{use}]", isinstance(key, Key), "must be a Key", key)
        object.__setattr__(self, "keys", dict(keys))
        object.__setattr__(self, "labels", _check_labels(owner, self.labels))
        object.__setattr__(self, "depends_on_resources", tuple(self.depends_on_resources))


class Kms(Construct):
    """The key rings, one key per use, each key's grant to its service agent, and the agents.

    Attributes:
        key_ids: each use's key name, `projects/P/locations/L/keyRings/R/cryptoKeys/USE`
            (plain strings, for the `kms_key_name` of what it encrypts).
        ready: what a resource using each key waits for (its grant, which waits for the key
            and the agent), for that resource's `depends_on_resources`.
        service_agents: each use's service agent as an IAM member (plain strings).
        rings (by location), keys, grants, agents (by use; `agents` is empty without
            `create_service_agents`): the resources.
    """

    def __init__(self, scope: Construct, id: str, props: KmsProps) -> None:
        super().__init__(scope, id)
        after = list(props.depends_on_resources)
        self.rings: dict[str, KmsKeyRing] = {}
        for location in dict.fromkeys(key.location for key in props.keys.values()):
            self.rings[location] = KmsKeyRing(
                self,
                f"ring-{location}",
                project=props.project_id,
                name=props.key_ring,
                location=location,
                depends_on=after or None,
            )
        # Read each ring's id once: every attribute read is a round trip to Node.js.
        ring_ids = {location: ring.id for location, ring in self.rings.items()}
        protect = TerraformResourceLifecycle(prevent_destroy=True)
        self.key_ids: dict[str, str] = {}
        self.service_agents: dict[str, str] = {}
        self.keys: dict[str, KmsCryptoKey] = {}
        self.agents: dict[str, TerraformResource] = {}
        self.grants: dict[str, KmsCryptoKeyIamMember] = {}
        self.ready: dict[str, list[Any]] = {}
        for use, key in props.keys.items():
            api, agent_domain = USES[use]
            self.key_ids[use] = key_id(props.project_id, key.location, props.key_ring, use)
            self.service_agents[use] = (
                f"serviceAccount:service-{props.project_number}@{agent_domain}"
            )
            self.keys[use] = KmsCryptoKey(
                self,
                f"key-{use}",
                name=use,
                key_ring=ring_ids[key.location],
                purpose="ENCRYPT_DECRYPT",
                rotation_period=f"{key.rotation_days * 86400}s",
                labels=dict(props.labels),
                lifecycle=protect if props.deletion_protection else None,
                depends_on=after or None,
            )
            agent_ready: list[Any] = []
            if props.create_service_agents:
                self.agents[use] = _service_agent(self, use, props.project_id, api, after)
                agent_ready = [self.agents[use]]
            self.grants[use] = KmsCryptoKeyIamMember(
                self,
                f"grant-{use}",
                crypto_key_id=self.keys[use].id,
                role=ENCRYPTER_DECRYPTER,
                member=self.service_agents[use],
                depends_on=[*agent_ready, *after] or None,
            )
            self.ready[use] = [self.grants[use]]


def _service_agent(
    scope: Construct, use: str, project_id: str, api: str, after: list[Any]
) -> TerraformResource:
    """A `terraform_data` that has the API's service agent created (see the module docstring).

    A plain `TerraformResource` of type `terraform_data`, not cdktn's `DataResource`, which
    runs `terraform version` at every synth."""
    agent = TerraformResource(
        scope,
        f"agent-{use}",
        terraform_resource_type="terraform_data",
        depends_on=after or None,
        provisioners=[
            LocalExecProvisioner(
                type="local-exec",
                command=AGENT_COMMAND,
                interpreter=["/bin/sh", "-c"],
                environment={"PROJECT": project_id, "SERVICE": api},
            )
        ],
    )
    agent.add_override("triggers_replace", {"project": project_id, "service": api})
    return agent
