"""Python message classes for Terraform's plugin protocol 5, generated from the published spec.

Why generated here: no maintained PyPI package ships tfplugin5 stubs (the two that speak the
plugin protocol from Python ship protocol 6 only), and Terraform's own documentation asks SDK
authors to copy the `.proto` of a release tag and run `protoc` on it. `proto/tfplugin5.8.proto`
is that file, verbatim from Terraform v1.11.4 (MPL-2.0, see `proto/README.md`). The module
`tfplugin5_pb2` is generated once per grpcio-tools version and spec into `.make/` (ignored by
git): `make venv` does it at bootstrap, and `load()` does it on first use when it is missing.
Only message classes are generated; the stand-in registers its gRPC methods itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from types import ModuleType

PROTO = Path(__file__).resolve().parent / "proto" / "tfplugin5.8.proto"
MODULE = "tfplugin5_pb2"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".make" / "standin" / "stubs"


def stubs_dir(base: Path = DEFAULT_DIR) -> Path:
    """The folder for the stubs of this spec and this protoc (grpcio-tools) version."""
    digest = hashlib.sha256(PROTO.read_bytes()).hexdigest()[:12]
    return base / f"grpcio-tools-{metadata.version('grpcio-tools')}-{digest}"


def generate(base: Path = DEFAULT_DIR) -> Path:
    """Generate `tfplugin5_pb2.py` unless it is there; return its path."""
    target = stubs_dir(base)
    module = target / f"{MODULE}.py"
    if module.is_file():
        return module
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".stubs-", dir=base))
    try:
        # protoc names the module after the file: copy the spec as tfplugin5.proto.
        shutil.copy(PROTO, work / "tfplugin5.proto")
        out = work / "out"
        out.mkdir()
        done = subprocess.run(
            [
                *(sys.executable, "-m", "grpc_tools.protoc"),
                *(f"-I{work}", f"--python_out={out}", "tfplugin5.proto"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"protoc failed on {PROTO.name}: {done.stderr.strip()}")
        try:
            os.replace(out, target)
        except OSError:
            if not module.is_file():  # another process won the race with the same content
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return module


def load(base: Path = DEFAULT_DIR) -> ModuleType:
    """The generated `tfplugin5_pb2` module (generated first when missing)."""
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    path = generate(base)
    spec = importlib.util.spec_from_file_location(MODULE, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    print(generate())
