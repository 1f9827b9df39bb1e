"""Install the stand-in as `hashicorp/google` in a filesystem mirror Terraform can init from.

Why a mirror: the stacks say `required_providers { google = { source = "hashicorp/google",
version = "8.7.0" } }`, and they must stay exactly as a real user's `make plan` needs them. A
CLI configuration (`TF_CLI_CONFIG_FILE`) whose only installation method is a filesystem
mirror makes `terraform init` take the provider from a local folder, with no network and no
change to the stacks. The mirror is laid out unpacked, as Terraform documents it:

    <mirror>/registry.terraform.io/hashicorp/google/<version>/<os>_<arch>/
        terraform-provider-google_v<version>     (a launcher: the venv's Python on the server)

The version is the one the bindings were generated for (`providerVersion` in their code), so
a bump of `cdktn-provider-google` moves the mirror with it. Everything lives under `.make/`.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.standin import schema as standin_schema
from infra.standin import stubs

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = REPO / ".make" / "standin"
NAMESPACE, TYPE = "hashicorp", "google"


@dataclass(frozen=True)
class Mirror:
    """Where the mirror is and the CLI configuration that points Terraform at it."""

    root: Path
    cli_config: Path
    provider_version: str
    executable: Path

    def environment(self) -> dict[str, str]:
        """The variables that make a Terraform command use this mirror, offline."""
        return {"TF_CLI_CONFIG_FILE": str(self.cli_config), "CHECKPOINT_DISABLE": "1"}


def terraform_platform() -> str:
    """Terraform's name for this machine's platform, e.g. linux_amd64."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"{sys.platform.replace('win32', 'windows')}_{arch}"


def ensure_mirror(root: Path = DEFAULT_ROOT, python: str = sys.executable) -> Mirror:
    """Derive the schema (cached), generate the protocol stubs, write launcher and config."""
    schema = standin_schema.load_standin_schema()
    schema_file = standin_schema.cache_path()
    version = schema["provider_version"]
    pb = stubs.load()
    from infra.standin.server import cached_schema_bytes

    cached_schema_bytes(schema_file, pb)  # the server answers GetSchema from this file
    mirror = root / "mirror"
    folder = mirror / "registry.terraform.io" / NAMESPACE / TYPE / version / terraform_platform()
    executable = folder / f"terraform-provider-{TYPE}_v{version}"
    launcher = "\n".join(
        [
            "#!/bin/sh",
            f"# Stand-in for {NAMESPACE}/{TYPE} {version}: serves the schema of the",
            "# cdktn-provider-google bindings and plans offline (infra/standin/server.py).",
            f"PYTHONPATH={shlex.quote(str(REPO))} exec {shlex.quote(python)} -m"
            f" infra.standin.server --schema {shlex.quote(str(schema_file))}",
            "",
        ]
    )
    _write_if_changed(executable, launcher, mode=0o755)
    cli_config = root / "terraformrc"
    _write_if_changed(
        cli_config,
        "\n".join(
            [
                "# Written by infra/standin/mirror.py: providers come from the mirror only.",
                "disable_checkpoint = true",
                "provider_installation {",
                "  filesystem_mirror {",
                f'    path    = "{mirror}"',
                f'    include = ["registry.terraform.io/{NAMESPACE}/{TYPE}"]',
                "  }",
                "}",
                "",
            ]
        ),
    )
    return Mirror(root, cli_config, version, executable)


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> None:
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(text)
    scratch.chmod(mode)
    os.replace(scratch, path)
