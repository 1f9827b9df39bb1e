"""Terraform itself reads every synthesized stack, offline.

`terraform providers` loads and decodes the whole configuration (block structure, references,
`depends_on`, `lifecycle`) and lists the providers it needs, with no provider binary and no
network. What it refuses, `make plan` would refuse on a user's first run. The stack is copied
without its gcs backend, for which Terraform would first ask for `terraform init`.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

from infra.synth import VERSIONS_FILE
from tests.conftest import require_binary
from tests.infra.conftest import Synthesized


def _terraform(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require_binary("terraform"), *args, "-no-color"],
        cwd=folder,
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_without_backend(synthesized: Synthesized, name: str, folder: Path) -> None:
    """The stack folder as synth wrote it (stack and versions file), minus the gcs backend."""
    folder.mkdir()
    config = copy.deepcopy(synthesized.stacks[name])
    assert config["terraform"].pop("backend", None), f"{name}: the stack has no backend"
    (folder / "cdk.tf.json").write_text(json.dumps(config))
    versions = synthesized.files[name].parent / VERSIONS_FILE
    (folder / VERSIONS_FILE).write_text(versions.read_text())


def test_terraform_loads_every_stack(synthesized: Synthesized, tmp_path: Path) -> None:
    for name in synthesized.stacks:
        folder = tmp_path / name
        _copy_without_backend(synthesized, name, folder)
        done = _terraform(folder, "providers")
        assert done.returncode == 0, f"{name}: terraform refused the stack:\n{done.stderr[-3000:]}"
        assert "provider[registry.terraform.io/hashicorp/google]" in done.stdout, done.stdout
        # The API gate (terraform_data) comes with Terraform itself: nothing more to download.
        assert "provider[terraform.io/builtin/terraform]" in done.stdout, done.stdout


def test_terraform_checks_the_version_the_stacks_need(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    """`terraform validate` checks the versions file offline (the stack itself would need the
    provider installed): this Terraform passes it, and one the file does not allow is refused."""
    versions = synthesized.files["dev"].parent / VERSIONS_FILE
    (tmp_path / VERSIONS_FILE).write_text(versions.read_text())
    done = _terraform(tmp_path, "validate")
    assert done.returncode == 0, done.stderr[-3000:]
    (tmp_path / VERSIONS_FILE).write_text('{"terraform": {"required_version": "< 1.4"}}')
    done = _terraform(tmp_path, "validate")
    assert done.returncode != 0
    assert "Unsupported Terraform Core version" in done.stderr, done.stderr[-3000:]
