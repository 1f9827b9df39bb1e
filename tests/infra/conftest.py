"""One synthesis of every environment per test session, shared by all infra tests.

Synthesizing the three stacks costs seconds (the provider bindings run on jsii), so it happens
once, into a temporary folder (never the user's `cdktf.out`), through the same code path as
`python -m infra synth`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO = Path(__file__).resolve().parents[2]
ENV_NAMES = ("dev", "staging", "prod")

TerraformJson = dict[str, Any]


@dataclass(frozen=True)
class Synthesized:
    """The synthesized stacks: parsed JSON, file paths and the configs they came from."""

    stacks: dict[str, TerraformJson]
    files: dict[str, Path]
    envs: dict[str, Any]  # name -> infra.config.Environment


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from infra.loader import load_environments
    from infra.synth import synthesize

    envs = load_environments(directory=REPO / "environments")
    outdir = tmp_path_factory.mktemp("cdktf") / "cdktf.out"
    files = synthesize(envs, outdir)
    by_name = {path.parent.name: path for path in files}
    return Synthesized(
        stacks={name: json.loads(path.read_text()) for name, path in by_name.items()},
        files=by_name,
        envs={env.name: env for env in envs},
    )


@pytest.fixture(scope="session")
def provider_schema() -> dict[str, Any]:
    from infra.provider_schema import load_schema

    return load_schema()


@pytest.fixture(scope="session")
def terraform() -> str:
    """The terraform binary; skips (fails under CI=true) when it is not installed."""
    from tests.conftest import require_binary

    return require_binary("terraform")


@pytest.fixture(scope="session")
def standin_mirror() -> Any:
    """The stand-in Google provider in its filesystem mirror (built once, cached in .make/)."""
    from infra.standin.mirror import ensure_mirror

    return ensure_mirror()


@pytest.fixture(scope="session")
def stack_plans(
    synthesized: Synthesized,
    terraform: str,
    standin_mirror: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """Terraform's init, validate, plan and `show -json` of every synthesized stack against
    the stand-in, once per session: environment name -> `infra.standin.run.StackRun`."""
    from infra.standin.run import plan_stacks

    scratch = tmp_path_factory.mktemp("plans")
    stacks = [(name, path.parent) for name, path in synthesized.files.items()]
    return {run.name: run for run in plan_stacks(stacks, scratch, terraform, standin_mirror)}


def resources(tf: TerraformJson, resource_type: str) -> dict[str, dict[str, Any]]:
    """All resources of one type in a stack, by logical name."""
    return tf.get("resource", {}).get(resource_type, {})


def only(tf: TerraformJson, resource_type: str, **match: Any) -> dict[str, Any]:
    """The one resource of a type whose top-level attributes equal `match`."""
    found = [
        config
        for config in resources(tf, resource_type).values()
        if all(config.get(key) == value for key, value in match.items())
    ]
    assert len(found) == 1, f"expected one {resource_type} with {match}, found {len(found)}"
    return found[0]


def ref(tf: TerraformJson, resource_type: str, config: dict[str, Any]) -> str:
    """The Terraform address (`type.name`) of a resource config taken from the stack."""
    for name, candidate in resources(tf, resource_type).items():
        if candidate is config:
            return f"{resource_type}.{name}"
    raise AssertionError(f"{resource_type} not in the stack")


def api_gate(tf: TerraformJson) -> tuple[str, dict[str, Any]]:
    """The address and config of the `terraform_data` gate that waits for the project's APIs
    (the stack's other `terraform_data` resources do work of their own and wait for it)."""
    services = {f"google_project_service.{n}" for n in resources(tf, "google_project_service")}
    gates = [
        (f"terraform_data.{name}", config)
        for name, config in resources(tf, "terraform_data").items()
        if services and set(config.get("depends_on", [])) == services
    ]
    assert len(gates) == 1, f"one API gate expected, found {[a for a, _ in gates]}"
    return gates[0]
