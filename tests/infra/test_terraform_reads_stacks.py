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

from tests.conftest import require_binary
from tests.infra.conftest import Synthesized


def test_terraform_loads_every_stack(synthesized: Synthesized, tmp_path: Path) -> None:
    terraform = require_binary("terraform")
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    for name, tf in synthesized.stacks.items():
        folder = tmp_path / name
        folder.mkdir()
        config = copy.deepcopy(tf)
        assert config["terraform"].pop("backend", None), f"{name}: the stack has no backend"
        (folder / "cdk.tf.json").write_text(json.dumps(config))
        done = subprocess.run(
            [terraform, "providers", "-no-color"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{name}: terraform refused the stack:\n{done.stderr[-3000:]}"
        assert "provider[registry.terraform.io/hashicorp/google]" in done.stdout, done.stdout
        # The API gate (terraform_data) comes with Terraform itself: nothing more to download.
        assert "provider[terraform.io/builtin/terraform]" in done.stdout, done.stdout
