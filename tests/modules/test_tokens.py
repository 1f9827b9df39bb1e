"""Each module tells a Terraform reference from a literal in Python, as `Token.is_unresolved` does.

Why: the modules skip the round trip to Node.js for strings that cannot be a token, and decide
cdktn's own token marker in Python; this holds them to cdktn's answer, e.g. after an upgrade.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

MODULES = sorted(p.stem for p in (Path(__file__).parents[2] / "modules").glob("[!_]*.py"))


@pytest.fixture(scope="module")
def samples() -> list[str]:
    from cdktn import App, TerraformStack
    from cdktn_provider_google.pubsub_topic import PubsubTopic

    topic = PubsubTopic(TerraformStack(App(), "tokens"), "topic", name="t")
    return [
        "agents-dev",
        "serviceAccount:a-dev@acme-agents-dev.iam.gserviceaccount.com",
        "${var.literal}",
        "${TfToken[not a token]}",
        topic.id,
        f"projects/p/topics/{topic.name}",
    ]


@pytest.mark.parametrize("name", MODULES)
def test_unresolved_agrees_with_cdktn(name: str, samples: list[str]) -> None:
    from cdktn import Token

    unresolved = importlib.import_module(f"modules.{name}")._unresolved
    assert [unresolved(s) for s in samples] == [Token.is_unresolved(s) for s in samples]
    assert [unresolved(s) for s in samples] == [False, False, False, False, True, True]
