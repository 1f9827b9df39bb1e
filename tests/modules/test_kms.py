"""The kms module: a key per use where its data is, rotated, protected, granted to its agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.modules.conftest import LABELS, PROJECT, PROJECT_NUMBER, resources
from tests.support.local_exec import apply_alone

AGENT = "serviceAccount:service-{number}@{domain}"
ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
EVERY_USE = {
    "firestore": "europe",
    "pubsub": "global",
    "artifact-registry": "europe-west1",
    "secrets": "global",
    "redis": "europe-west1",
    "run": "europe-west1",
}


@pytest.fixture(scope="module")
def built(synth) -> dict[str, Any]:
    """A protected set of every use waiting for a gate, and an unprotected one whose agents
    something else creates."""
    from cdktn_provider_google.pubsub_topic import PubsubTopic

    from modules.kms import Key, Kms, KmsProps

    made: dict[str, Any] = {}

    def build(stack: Any) -> None:
        made["gate"] = PubsubTopic(stack, "gate", name="gate")
        made["prod"] = Kms(
            stack,
            "prod",
            KmsProps(
                project_id=PROJECT,
                project_number=PROJECT_NUMBER,
                key_ring="agents-prod",
                keys={
                    use: Key(location=location, rotation_days=30)
                    for use, location in EVERY_USE.items()
                },
                labels=LABELS,
                depends_on_resources=[made["gate"]],
            ),
        )
        made["lab"] = Kms(
            stack,
            "lab",
            KmsProps(
                project_id=PROJECT,
                project_number=PROJECT_NUMBER,
                key_ring="agents-lab",
                keys={"pubsub": Key(location="global")},
                labels=LABELS,
                deletion_protection=False,
                create_service_agents=False,
            ),
        )

    made["tf"] = synth(build)
    return made


def by_path(tf: dict[str, Any], rtype: str, path: str) -> tuple[str, dict[str, Any]]:
    """The address and config of the one resource of a type under `test/<path>`."""
    (found,) = (
        (f"{rtype}.{name}", config)
        for name, config in resources(tf, rtype).items()
        if config["//"]["metadata"]["path"] == f"test/{path}"
    )
    return found


def test_one_key_ring_per_location_with_the_same_name(built) -> None:
    rings = [r for r in resources(built["tf"], "google_kms_key_ring").values()]
    prod = sorted((r["location"], r["name"]) for r in rings if r["name"] == "agents-prod")
    assert prod == [("europe", "agents-prod"), ("europe-west1", "agents-prod"),
                    ("global", "agents-prod")]  # fmt: skip
    assert all(r["project"] == PROJECT for r in rings)


def test_one_symmetric_key_per_use_in_its_location_rotated_and_labelled(built) -> None:
    tf = built["tf"]
    for use, location in EVERY_USE.items():
        _, key = by_path(tf, "google_kms_crypto_key", f"prod/key-{use}")
        ring, _ = by_path(tf, "google_kms_key_ring", f"prod/ring-{location}")
        assert key["name"] == use
        assert key["key_ring"] == f"${{{ring}.id}}"
        assert key["purpose"] == "ENCRYPT_DECRYPT"
        assert key["rotation_period"] == f"{30 * 86400}s"
        assert key["labels"] == LABELS
    _, default = by_path(tf, "google_kms_crypto_key", "lab/key-pubsub")
    assert default["rotation_period"] == "7776000s"  # 90 days


def test_protected_keys_cannot_be_destroyed_and_unprotected_ones_can(built) -> None:
    tf = built["tf"]
    for use in EVERY_USE:
        _, key = by_path(tf, "google_kms_crypto_key", f"prod/key-{use}")
        assert key["lifecycle"] == {"prevent_destroy": True}
    _, lab = by_path(tf, "google_kms_crypto_key", "lab/key-pubsub")
    assert "lifecycle" not in lab


def test_each_key_is_granted_to_its_service_agent_alone(built) -> None:
    from modules.kms import USES

    tf = built["tf"]
    grants = resources(tf, "google_kms_crypto_key_iam_member")
    assert len(grants) == len(EVERY_USE) + 1
    for use in EVERY_USE:
        key, _ = by_path(tf, "google_kms_crypto_key", f"prod/key-{use}")
        _, grant = by_path(tf, "google_kms_crypto_key_iam_member", f"prod/grant-{use}")
        member = AGENT.format(number=PROJECT_NUMBER, domain=USES[use][1])
        assert (grant["crypto_key_id"], grant["role"], grant["member"]) == (
            f"${{{key}.id}}",
            ROLE,
            member,
        )
        assert built["prod"].service_agents[use] == member


def test_the_service_agents_are_verified_against_google_s_names() -> None:
    """Google's documented agents of each service (Cloud KMS's CMEK pages and the Fabric
    modules' service-agents list); a typo here fails the grant at apply time."""
    from modules.kms import USES

    assert {use: domain for use, (_, domain) in USES.items()} == {
        "firestore": "gcp-sa-firestore.iam.gserviceaccount.com",
        "pubsub": "gcp-sa-pubsub.iam.gserviceaccount.com",
        "artifact-registry": "gcp-sa-artifactregistry.iam.gserviceaccount.com",
        "secrets": "gcp-sa-secretmanager.iam.gserviceaccount.com",
        "redis": "cloud-redis.iam.gserviceaccount.com",
        "run": "serverless-robot-prod.iam.gserviceaccount.com",
    }


def test_a_grant_waits_for_its_agent_and_the_gate_and_the_keys_for_the_gate(built) -> None:
    tf = built["tf"]
    gate = f"google_pubsub_topic.{next(iter(resources(tf, 'google_pubsub_topic')))}"
    for use in EVERY_USE:
        agent, _ = by_path(tf, "terraform_data", f"prod/agent-{use}")
        _, grant = by_path(tf, "google_kms_crypto_key_iam_member", f"prod/grant-{use}")
        _, key = by_path(tf, "google_kms_crypto_key", f"prod/key-{use}")
        assert grant["depends_on"] == [agent, gate]
        assert key["depends_on"] == [gate]
    _, lab = by_path(tf, "google_kms_crypto_key_iam_member", "lab/grant-pubsub")
    assert "depends_on" not in lab
    assert not [
        c
        for c in resources(tf, "terraform_data").values()
        if "/lab/" in c["//"]["metadata"]["path"]
    ]


def test_ready_is_the_grant_and_key_ids_are_known_before_apply(built) -> None:
    prod = built["prod"]
    for use, location in EVERY_USE.items():
        assert prod.ready[use] == [prod.grants[use]]
        assert prod.key_ids[use] == (
            f"projects/{PROJECT}/locations/{location}/keyRings/agents-prod/cryptoKeys/{use}"
        )


def test_each_agent_is_created_through_service_usage_once_per_project_and_service(built) -> None:
    from modules.kms import USES

    for use, (api, _) in USES.items():
        _, agent = by_path(built["tf"], "terraform_data", f"prod/agent-{use}")
        assert agent["triggers_replace"] == {"project": PROJECT, "service": api}
        (provisioner,) = agent["provisioner"]
        assert provisioner["local-exec"]["environment"] == {"PROJECT": PROJECT, "SERVICE": api}
        assert ":generateServiceIdentity" in provisioner["local-exec"]["command"]


TOKEN = "stub-access-token-91c2"


def create_agent(built: dict[str, Any], folder: Path, answer: str, curl_exit: int = 0) -> Any:
    """`terraform apply` of the Firestore agent's `terraform_data` alone, with stand-ins for
    `gcloud` and `curl`."""
    _, agent = by_path(built["tf"], "terraform_data", "prod/agent-firestore")
    applied, _ = apply_alone(agent, folder, token=TOKEN, answer=answer, curl_exit=curl_exit)
    return applied


DONE = '{"name": "operations/x", "done": true, "response": {"email": "service-1@x"}}'


def test_the_agent_is_asked_for_with_the_token_on_stdin(built, tmp_path: Path) -> None:
    applied = create_agent(built, tmp_path / "ok", DONE)
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert f"service agent of firestore.googleapis.com in {PROJECT}: ready" in applied.stdout
    argv = (tmp_path / "ok" / "curl.argv").read_text().splitlines()
    assert TOKEN not in " ".join(argv), "the token is never on a command line"
    assert (tmp_path / "ok" / "curl.stdin").read_text() == f"Authorization: Bearer {TOKEN}\n"
    assert argv[argv.index("--request") + 1] == "POST"
    assert f"x-goog-user-project: {PROJECT}" in argv
    assert argv[-1] == (
        "https://serviceusage.googleapis.com/v1beta1/projects/"
        f"{PROJECT}/services/firestore.googleapis.com:generateServiceIdentity"
    )


@pytest.mark.parametrize(
    ("answer", "curl_exit", "shown"),
    [
        ("permission denied body", 22, "permission denied body"),  # curl's HTTP error
        ('{"done": true, "error": {"code": 7}}', 0, '"code": 7'),
        ('{"name": "operations/x"}', 0, "was not ready after 10 calls"),
    ],
    ids=["http-error", "operation-error", "never-done"],
)
def test_a_failure_fails_the_apply_and_says_why(
    built, tmp_path: Path, answer: str, curl_exit: int, shown: str
) -> None:
    applied = create_agent(built, tmp_path / "failed", answer, curl_exit)
    assert applied.returncode != 0
    assert shown in applied.stderr
    assert f"firestore.googleapis.com in {PROJECT}: ready" not in applied.stdout


def valid() -> dict[str, Any]:
    from modules.kms import Key

    return {
        "project_id": PROJECT,
        "project_number": PROJECT_NUMBER,
        "key_ring": "agents-dev",
        "keys": {"pubsub": Key(location="global")},
        "labels": LABELS,
    }


@pytest.mark.parametrize(
    ("change", "field", "bad"),
    [
        ({"project_id": "Acme"}, "project_id", "'Acme'"),
        ({"project_number": "12ab"}, "project_number", "digits only"),
        ({"key_ring": "agents/dev"}, "key_ring", "'agents/dev'"),
        ({"keys": {}}, "keys", "at least one use"),
        ({"keys": ["pubsub"]}, "keys", "at least one use"),
        ({"keys": {"bigquery": "global"}}, "keys", "uses must be among firestore, pubsub"),
        ({"keys": {"pubsub": "global"}}, r"keys\[pubsub\]", "must be a Key, got 'global'"),
        ({"deletion_protection": "yes"}, "deletion_protection", "true or false"),
        ({"create_service_agents": None}, "create_service_agents", "true or false"),
        ({"labels": {"app": "agents"}}, "labels", "'app' and 'env'"),
        ({"labels": {**LABELS, "Team": "x"}}, "labels", "Team=x"),
    ],
)
def test_bad_props_name_the_field(change: dict[str, Any], field: str, bad: str) -> None:
    from modules.kms import KmsProps

    with pytest.raises(ValueError, match=rf"^KmsProps\.{field}: ") as error:
        KmsProps(**{**valid(), **change})
    assert bad in str(error.value)


@pytest.mark.parametrize(
    ("change", "field", "bad"),
    [
        ({"location": "Europe West"}, "location", "'Europe West'"),
        ({"rotation_days": 0}, "rotation_days", "between 1 and 3650, got 0"),
        ({"rotation_days": True}, "rotation_days", "got True"),
        ({"rotation_days": 90.0}, "rotation_days", "got 90.0"),
    ],
)
def test_bad_key_names_the_field(change: dict[str, Any], field: str, bad: str) -> None:
    from modules.kms import Key

    with pytest.raises(ValueError, match=rf"^Key\.{field}: ") as error:
        Key(**{"location": "global", **change})
    assert bad in str(error.value)


def test_the_minimal_configuration_protects_rotates_quarterly_and_creates_the_agents() -> None:
    from modules.kms import KmsProps

    props = KmsProps(**valid())
    rotation_days = props.keys["pubsub"].rotation_days
    assert (props.deletion_protection, rotation_days, props.create_service_agents) == (
        True,
        90,
        True,
    )
