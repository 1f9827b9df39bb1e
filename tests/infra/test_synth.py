"""Installing a synthesized stack keeps Terraform's working files and drops stale plans."""

from __future__ import annotations

import json
from pathlib import Path

from infra.synth import REQUIRED_TERRAFORM, VERSIONS_FILE, _install


def staged(root: Path, stacks: dict[str, str]) -> Path:
    """A fresh synthesis output as cdktn writes it: stacks/<name>/cdk.tf.json + manifest."""
    for name, body in stacks.items():
        (root / "stacks" / name).mkdir(parents=True)
        (root / "stacks" / name / "cdk.tf.json").write_text(body)
    manifest = {"version": "0.24.0", "stacks": {n: {"name": n} for n in stacks}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def initialized(out: Path, name: str, body: str) -> Path:
    """A stack folder after `terraform init` and `terraform plan -out=tfplan`."""
    folder = out / "stacks" / name
    (folder / ".terraform" / "providers").mkdir(parents=True)
    (folder / ".terraform.lock.hcl").write_text("lock")
    (folder / "cdk.tf.json").write_text(body)
    versions = {"terraform": {"required_version": REQUIRED_TERRAFORM}}
    (folder / VERSIONS_FILE).write_text(json.dumps(versions, indent=2) + "\n")
    (folder / "tfplan").write_text("plan")
    return folder


def test_a_changed_stack_loses_its_saved_plan_but_keeps_terraform_state(tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    dev = initialized(out, "dev", '{"old": 1}')
    prod = initialized(out, "prod", '{"same": 1}')
    (out / "manifest.json").write_text(json.dumps({"stacks": {"prod": {"name": "prod"}}}))

    staging = staged(tmp_path / "stage", {"dev": '{"new": 1}', "prod": '{"same": 1}'})
    written = _install(staging, out, ["dev", "prod"])

    assert written == [dev / "cdk.tf.json", prod / "cdk.tf.json"]
    assert (dev / "cdk.tf.json").read_text() == '{"new": 1}'
    assert not (dev / "tfplan").exists(), "a plan for the old configuration must not be applied"
    assert (prod / "tfplan").read_text() == "plan", "an unchanged stack keeps its plan"
    for folder in (dev, prod):
        assert (folder / ".terraform" / "providers").is_dir()
        assert (folder / ".terraform.lock.hcl").read_text() == "lock"
    assert set(json.loads((out / "manifest.json").read_text())["stacks"]) == {"dev", "prod"}


def test_one_environment_updates_its_own_stack_and_keeps_the_others(tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    _install(staged(tmp_path / "a", {"dev": "1", "prod": "1"}), out, ["dev", "prod"])
    _install(staged(tmp_path / "b", {"dev": "2"}), out, ["dev"])
    assert (out / "stacks" / "dev" / "cdk.tf.json").read_text() == "2"
    assert (out / "stacks" / "prod" / "cdk.tf.json").read_text() == "1"
    assert set(json.loads((out / "manifest.json").read_text())["stacks"]) == {"dev", "prod"}


def test_every_stack_declares_the_terraform_it_needs(tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    _install(staged(tmp_path / "a", {"dev": "1", "prod": "1"}), out, ["dev", "prod"])
    for name in ("dev", "prod"):
        versions = json.loads((out / "stacks" / name / VERSIONS_FILE).read_text())
        assert versions == {"terraform": {"required_version": ">= 1.4"}}


def test_a_stack_whose_terraform_requirement_changed_loses_its_saved_plan(tmp_path: Path) -> None:
    out = tmp_path / "cdktf.out"
    dev = initialized(out, "dev", '{"same": 1}')
    (dev / VERSIONS_FILE).write_text('{"terraform": {"required_version": ">= 1.0"}}')
    _install(staged(tmp_path / "stage", {"dev": '{"same": 1}'}), out, ["dev"])
    assert not (dev / "tfplan").exists()
    assert REQUIRED_TERRAFORM in (dev / VERSIONS_FILE).read_text()
