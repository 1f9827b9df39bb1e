"""Each module file works when copied alone into another repo.

Every file in modules/ is copied into an empty folder and its docstring's `Example::` is run
there in a fresh interpreter that cannot see this repo's packages, then synthesized. A second
check reads each file's imports: only the standard library, cdktn, constructs and
cdktn_provider_google are allowed.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

MODULES_DIR = Path(__file__).resolve().parents[2] / "modules"
MODULE_FILES = sorted(p for p in MODULES_DIR.glob("*.py") if p.name != "__init__.py")
ALLOWED_ROOTS = {"cdktn", "constructs", "cdktn_provider_google"} | set(sys.stdlib_module_names)
REPO_PACKAGES = ("app", "infra", "modules")

# Runs in the empty folder: hides this repo's packages, executes the example, synthesizes.
RUNNER = textwrap.dedent(
    """
    import importlib.abc, json, sys
    from pathlib import Path

    class HideRepo(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {hidden!r}:
                raise ImportError(f"{{name}} is not available in another repo")
            return None

    sys.meta_path.insert(0, HideRepo())
    sys.path.insert(0, str(Path(__file__).parent))
    from cdktn import App, TerraformStack
    from cdktn_provider_google.provider import GoogleProvider
    import {module} as module

    app = App(outdir="out")
    stack = TerraformStack(app, "copied")
    GoogleProvider(stack, "google", project="acme-copied", region="europe-west1")
    namespace = {{name: getattr(module, name) for name in dir(module) if not name.startswith("_")}}
    namespace["stack"] = stack
    exec(Path("example.py").read_text(), namespace)
    app.synth()
    tf = json.loads(Path("out/stacks/copied/cdk.tf.json").read_text())
    print(json.dumps(sorted(tf.get("resource", {{}}))))
    """
)


def example_of(source: str) -> str:
    """The code of the `Example::` block in a module docstring (indented or fenced)."""
    doc = ast.get_docstring(ast.parse(source)) or ""
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Example::"), None)
    if start is None:
        return ""
    block: list[str] = []
    for line in lines[start + 1 :]:
        if line.strip().startswith("```"):
            if block:
                break
            continue
        if line and not line[0].isspace() and block and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip()


def run_copied(module_file: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(module_file, workdir / module_file.name)
    (workdir / "example.py").write_text(example_of(module_file.read_text()))
    runner = RUNNER.format(module=module_file.stem, hidden=set(REPO_PACKAGES))
    (workdir / "run_example.py").write_text(runner)
    return subprocess.run(
        [sys.executable, "run_example.py"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(workdir),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        },
    )


@pytest.fixture(scope="module")
def copied_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    """Run every module's example in its own empty folder, two at a time."""
    folders = {f.stem: tmp_path_factory.mktemp(f"copied-{f.stem}") for f in MODULE_FILES}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {f.stem: pool.submit(run_copied, f, folders[f.stem]) for f in MODULE_FILES}
        return {name: future.result() for name, future in futures.items()}


def test_there_are_modules() -> None:
    assert len(MODULE_FILES) >= 7, [p.name for p in MODULE_FILES]


@pytest.mark.parametrize("module_file", MODULE_FILES, ids=lambda p: p.stem)
def test_docstring_has_an_example(module_file: Path) -> None:
    assert "stack" in example_of(module_file.read_text()), f"{module_file.name}: no Example::"


@pytest.mark.parametrize("module_file", MODULE_FILES, ids=lambda p: p.stem)
def test_copied_alone_the_example_synthesizes(module_file: Path, copied_runs) -> None:
    run = copied_runs[module_file.stem]
    assert run.returncode == 0, run.stderr[-3000:]
    resource_types = json.loads(run.stdout.strip().splitlines()[-1])
    assert resource_types, f"{module_file.name}: the example synthesized no resource"


@pytest.mark.parametrize("module_file", MODULE_FILES, ids=lambda p: p.stem)
def test_imports_only_the_cdk_and_the_standard_library(module_file: Path) -> None:
    tree = ast.parse(module_file.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module_file.name}: relative import from {node.module}"
            roots.add((node.module or "").split(".")[0])
    assert roots <= ALLOWED_ROOTS, f"{module_file.name} imports {sorted(roots - ALLOWED_ROOTS)}"


def test_the_hidden_repo_check_would_catch_a_sibling_import(tmp_path: Path) -> None:
    """The isolation itself: a module importing a sibling fails when copied alone."""
    leaky = tmp_path / "src" / "leaky.py"
    leaky.parent.mkdir()
    leaky.write_text(
        '"""Leaky.\n\nExample::\n\n    Leaky(stack)\n"""\n'
        "from modules.network import Network as Leaky\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    run = run_copied(leaky, work)
    assert run.returncode != 0
    assert "not available in another repo" in run.stderr
