"""Synthesize environments into `cdktf.out` without ever leaving it half written.

Why the detour: a wrong environment file, or a module refusing a value, must leave the previous
output as it was. So the caller validates every file first, the app synthesizes into a fresh
temporary folder beside `cdktf.out`, and only a complete result is moved into place, one
stack folder at a time. Whatever `terraform init` left in a stack folder (`.terraform`, the
lock file) is kept; a saved `tfplan` is removed when its stack's configuration changed, so
`make apply` can never apply a plan made for an older configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infra.config import Environment

DEFAULT_OUTDIR = Path("cdktf.out")
STACK_FILE = "cdk.tf.json"
# The Terraform the stacks need (terraform_data came in 1.4), in a file of its own next to
# each stack: checkov 3.3's terraform_json parser fails on a stack file that declares it, and
# then runs no check at all. Terraform reads every *.tf.json in the folder.
VERSIONS_FILE = "versions.tf.json"
REQUIRED_TERRAFORM = ">= 1.4"
SAVED_PLAN = "tfplan"


class SynthError(Exception):
    """A module refused a value of an environment; the message names the file."""


def synthesize(envs: Sequence[Environment], outdir: Path = DEFAULT_OUTDIR) -> list[Path]:
    """Synthesize one stack per environment and install them; return their `cdk.tf.json` paths."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    # cdktn records a JavaScript stack trace for every token it creates, for its error messages;
    # under jsii that trace shows the jsii runtime, never our Python, and costs Node.js time.
    os.environ.setdefault("CDKTN_DISABLE_CREATION_STACK", "1")
    from cdktn import App

    from infra.stack import EnvironmentStack

    outdir = outdir.absolute()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}-", dir=outdir.parent))
    try:
        app = App(outdir=str(staging))
        for env in envs:
            try:
                EnvironmentStack(app, env)
            except ValueError as exc:
                raise SynthError(f"{env.path}: {exc}") from None
        app.synth()
        return _install(staging, outdir, [env.name for env in envs])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _install(staging: Path, outdir: Path, names: list[str]) -> list[Path]:
    """Move each synthesized stack into `outdir`, then merge the manifest."""
    installed: list[Path] = []
    for name in names:
        source, target = staging / "stacks" / name, outdir / "stacks" / name
        if not (source / STACK_FILE).is_file():
            raise SynthError(f"synthesis produced no {STACK_FILE} for stack {name!r}")
        versions = {"terraform": {"required_version": REQUIRED_TERRAFORM}}
        (source / VERSIONS_FILE).write_text(json.dumps(versions, indent=2) + "\n")
        target.mkdir(parents=True, exist_ok=True)
        changed = any(_differs(source / f, target / f) for f in (STACK_FILE, VERSIONS_FILE))
        for entry in source.iterdir():
            destination = target / entry.name
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            os.replace(entry, destination)
        if changed:
            (target / SAVED_PLAN).unlink(missing_ok=True)
        installed.append(target / STACK_FILE)
    _merge_manifest(staging / "manifest.json", outdir / "manifest.json")
    return installed


def _differs(new: Path, old: Path) -> bool:
    return not old.is_file() or old.read_bytes() != new.read_bytes()


def _merge_manifest(new_path: Path, path: Path) -> None:
    new: dict[str, Any] = json.loads(new_path.read_text())
    try:
        merged: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        merged = {}
    stacks = {**merged.get("stacks", {}), **new.get("stacks", {})}
    merged.update(new)
    merged["stacks"] = dict(sorted(stacks.items()))
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(json.dumps(merged, indent=2) + "\n")
    os.replace(scratch, path)
