"""The helpers every module repeats are one block, pasted byte for byte into each module.

Why: each module is copied alone into other repos, so it cannot import its validation helpers
from a sibling; copies drift unless a test holds them together. And a check written once is
right once: `project_id="acme-agents-dev\\n"`, which `^...$` with `match` accepts, is refused
by every module that takes a project id.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from tests.modules.conftest import LABELS, PROJECT, PROJECT_NUMBER, REGION

MODULES_DIR = Path(__file__).resolve().parents[2] / "modules"
MODULE_FILES = sorted(p for p in MODULES_DIR.glob("*.py") if p.name != "__init__.py")
BEGIN = "# --- shared helpers: begin ---\n"
END = "# --- shared helpers: end ---\n"
EMAIL = f"agents-dev-push@{PROJECT}.iam.gserviceaccount.com"
URL = "https://worker.example.com"


def block_of(path: Path) -> str:
    text = path.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, f"{path.name}: one block expected"
    start = text.index(BEGIN)
    return text[start : text.index(END, start) + len(END)]


def test_every_module_holds_the_same_block_byte_for_byte() -> None:
    blocks = {path.name: block_of(path) for path in MODULE_FILES}
    reference = blocks["project.py"]
    assert [name for name, block in blocks.items() if block != reference] == []
    # Its helpers are not defined a second time elsewhere in the module.
    names = re.findall(r"^def (\w+)", reference, re.MULTILINE)
    for path in MODULE_FILES:
        outside = path.read_text().replace(reference, "")
        for name in names:
            assert f"def {name}(" not in outside, f"{path.name} redefines {name}"


def test_patterns_are_matched_whole_in_every_module() -> None:
    """`fullmatch` only: `match` (with or without `^...$`) stops before a trailing newline."""
    for path in MODULE_FILES:
        assert ".match(" not in path.read_text(), path.name


def minimal_props() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each props class that takes a project id, with the fewest valid values it needs."""
    from modules import (
        compute,
        customer_identity,
        edge,
        identity,
        kms,
        messaging,
        network,
        observability,
        project,
        scheduler,
        storage,
    )

    base = {"project_id": PROJECT, "region": REGION, "labels": LABELS}
    push = messaging.PushSubscription(
        topic="jobs", endpoint=f"{URL}/push", service_account_email=EMAIL, audience=URL
    )
    found = [
        (
            project.ProjectServicesProps,
            {"project_id": PROJECT, "services": ["run.googleapis.com"]},
        ),
        (network.NetworkProps, {**base, "name": "shop"}),
        (
            identity.WorkloadIdentityProps,
            {
                "project_id": PROJECT,
                "project_number": PROJECT_NUMBER,
                "name_prefix": "shop",
                "workloads": {"web": identity.Workload(description="The shop's web server.")},
            },
        ),
        (identity.SecretProps, {"project_id": PROJECT, "secret_id": "key", "labels": LABELS}),
        (
            kms.KmsProps,
            {
                "project_id": PROJECT,
                "project_number": PROJECT_NUMBER,
                "key_ring": "shop",
                "keys": {"pubsub": kms.Key(location="global")},
                "labels": LABELS,
            },
        ),
        (
            customer_identity.CustomerIdentityProps,
            {"project_id": PROJECT, "authorized_domains": ["shop.example.com"]},
        ),
        (
            storage.FirestoreDatabaseProps,
            {
                "project_id": PROJECT,
                "location": REGION,
                "deletion_protection": True,
                "recovery": storage.Recovery(point_in_time=True),
            },
        ),
        (
            storage.RedisCacheProps,
            {
                **base,
                "name": "cache",
                "tier": "basic",
                "network_id": "projects/p/global/networks/n",
            },
        ),
        (
            messaging.MessagingProps,
            {
                "project_id": PROJECT,
                "project_number": PROJECT_NUMBER,
                "name_prefix": "shop",
                "labels": LABELS,
                "topics": {"jobs": messaging.Topic(name="shop-jobs")},
                "push": push,
            },
        ),
        (compute.ArtifactRepositoryProps, {**base, "repository_id": "shop"}),
        (
            compute.CloudRunServiceProps,
            {**base, "name": "shop-web", "service_account_email": EMAIL},
        ),
        (
            scheduler.ScheduledCallProps,
            {
                "project_id": PROJECT,
                "region": REGION,
                "name": "shop-nightly",
                "target": scheduler.OidcTarget(
                    url=f"{URL}/tasks/nightly", service_account_email=EMAIL, audience=URL
                ),
            },
        ),
        (
            edge.EdgeProps,
            {
                **base,
                "name_prefix": "shop",
                "cloud_run_service_name": "shop-web",
                "domains": ["shop.example.com"],
            },
        ),
        (observability.ObservabilityProps, observability_props()),
    ]
    return {kind.__name__: (kind, values) for kind, values in found}


def observability_props() -> dict[str, Any]:
    from modules.observability import ApiWatch, QueueWatch, WorkerWatch

    return {
        "project_id": PROJECT,
        "name_prefix": "shop",
        "labels": LABELS,
        "api": ApiWatch(service_name="shop-web"),
        "worker": WorkerWatch(service_name="shop-jobs"),
        "queue": QueueWatch(
            push_subscription_name="shop-jobs-push",
            dead_letter_subscription_name="shop-jobs-dead-letter-pull",
        ),
    }


def test_every_props_class_with_a_project_id_is_covered() -> None:
    with_project_id = set()
    for path in MODULE_FILES:
        module = importlib.import_module(f"modules.{path.stem}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == module.__name__
                and dataclasses.is_dataclass(value)
                and "project_id" in {f.name for f in dataclasses.fields(value)}
            ):
                with_project_id.add(value.__name__)
    assert with_project_id == set(minimal_props())


@pytest.mark.parametrize("name", sorted(minimal_props()))
def test_a_project_id_with_a_trailing_newline_is_refused(name: str) -> None:
    kind, values = minimal_props()[name]
    assert kind(**values).project_id == PROJECT  # the values are valid as given
    with pytest.raises(ValueError, match=rf"^{name}\.project_id: ") as error:
        kind(**{**values, "project_id": f"{PROJECT}\n"})
    assert repr(f"{PROJECT}\n") in str(error.value)
