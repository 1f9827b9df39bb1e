"""Synthesize a module inside a minimal stack and hand the test the parsed Terraform JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PROJECT = "acme-agents-dev"
PROJECT_NUMBER = "123456789012"
REGION = "europe-west1"
LABELS = {"app": "agents", "env": "dev"}

TerraformJson = dict[str, Any]


@pytest.fixture(scope="module")
def synth(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[Callable[[Any], None]], TerraformJson]:
    """`synth(build)` -> the stack's cdk.tf.json, where `build(stack)` adds the constructs."""
    from cdktn import App, TerraformStack
    from cdktn_provider_google.provider import GoogleProvider

    def run(build: Callable[[Any], None]) -> TerraformJson:
        outdir = tmp_path_factory.mktemp("synth")
        app = App(outdir=str(outdir))
        stack = TerraformStack(app, "test")
        GoogleProvider(stack, "google", project=PROJECT, region=REGION)
        build(stack)
        app.synth()
        return json.loads((Path(outdir) / "stacks" / "test" / "cdk.tf.json").read_text())

    return run


def resources(tf: TerraformJson, resource_type: str) -> dict[str, dict[str, Any]]:
    """All resources of one type in a synthesized stack, by their logical name."""
    return tf.get("resource", {}).get(resource_type, {})


def only(tf: TerraformJson, resource_type: str) -> dict[str, Any]:
    """The single resource of a type; fails when there are none or several."""
    found = resources(tf, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))
