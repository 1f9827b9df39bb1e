"""Each module file works when copied alone into another repo, and makes what it says.

Every file in modules/ is copied into an empty folder and its docstring's `Example::` is run
there in a fresh interpreter that cannot see this repo's packages, then synthesized. Terraform
then plans that stack against the stand-in provider (`infra.standin`), and the plan must match
the `Inventory::` written under the example: the number of resources of each type (`counts`,
with their total as `resources`) and key values of some of them (`values`, by address with
cdktn's hash suffix left out; a trailing `*` matches the one address with that prefix), in the
spirit of Cloud Foundation Fabric's example inventories. A last check reads each file's
imports: only the standard library, cdktn, constructs and cdktn_provider_google are allowed.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_binary

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


def example_of(source: str, marker: str = "Example::") -> str:
    """The code of the `Example::` block in a module docstring (indented or fenced)."""
    doc = ast.get_docstring(ast.parse(source)) or ""
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == marker), None)
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


def inventory_of(source: str) -> dict[str, Any]:
    """The `Inventory::` block under a module's example, parsed (YAML)."""
    text = example_of(source, "Inventory::")
    return yaml.safe_load(text) if text else {}


_HASH_SUFFIX = re.compile(r"_[0-9A-F]{8}$")


def inventory_problems(inventory: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    """How a plan (`terraform show -json`) differs from an inventory; empty when it matches."""
    planned = plan["planned_values"]["root_module"].get("resources", [])
    counts = dict(Counter(resource["type"] for resource in planned))
    counts["resources"] = len(planned)
    problems = []
    if counts != inventory.get("counts"):
        problems.append(f"counts: planned {counts}, the inventory says {inventory.get('counts')}")
    by_address: dict[str, list[dict[str, Any]]] = {}
    for resource in planned:
        by_address.setdefault(_HASH_SUFFIX.sub("", resource["address"]), []).append(resource)
    for key, expected in (inventory.get("values") or {}).items():
        if key.endswith("*"):
            found = [r for a, rs in by_address.items() if a.startswith(key[:-1]) for r in rs]
        else:
            found = by_address.get(key, [])
        if len(found) != 1:
            problems.append(f"{key}: {len(found)} planned resources match, one expected")
            continue
        problems += [f"{key}{p}" for p in _differences(expected, found[0]["values"], "")]
    return problems


def _differences(expected: Any, actual: Any, path: str) -> list[str]:
    """Where `actual` differs from `expected`: maps are compared on the expected keys only,
    lists element by element (same length), anything else by equality."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}.{key}: not in the plan (unknown until apply?)")
            else:
                found += _differences(value, actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        found = []
        for index, (one, other) in enumerate(zip(expected, actual, strict=True)):
            found += _differences(one, other, f"{path}[{index}]")
        return found
    if expected == actual and type(expected) is type(actual):
        return []
    return [f"{path}: planned {actual!r}, the inventory says {expected!r}"]


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


@dataclass(frozen=True)
class Copied:
    """One module's example, run in its own folder."""

    folder: Path
    run: subprocess.CompletedProcess[str]

    @property
    def stack(self) -> Path:
        return self.folder / "out" / "stacks" / "copied"


@pytest.fixture(scope="module")
def copied_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Copied]:
    """Run every module's example in its own empty folder, two at a time."""
    folders = {f.stem: tmp_path_factory.mktemp(f"copied-{f.stem}") for f in MODULE_FILES}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {f.stem: pool.submit(run_copied, f, folders[f.stem]) for f in MODULE_FILES}
        return {name: Copied(folders[name], future.result()) for name, future in futures.items()}


@pytest.fixture(scope="module")
def copied_plans(copied_runs: dict[str, Copied]) -> dict[str, Any]:
    """Terraform's plan of each synthesized example against the stand-in provider."""
    from infra.standin.mirror import ensure_mirror
    from infra.standin.run import plan_stacks

    terraform = require_binary("terraform")
    stacks = [
        (name, copied.stack) for name, copied in copied_runs.items() if copied.run.returncode == 0
    ]
    scratch = next(iter(copied_runs.values())).folder.parent / "plans"
    runs = plan_stacks(stacks, scratch, terraform, ensure_mirror())
    return {run.name: run for run in runs}


def test_there_are_modules() -> None:
    assert len(MODULE_FILES) >= 7, [p.name for p in MODULE_FILES]


@pytest.mark.parametrize("module_file", MODULE_FILES, ids=lambda p: p.stem)
def test_docstring_has_an_example(module_file: Path) -> None:
    assert "stack" in example_of(module_file.read_text()), f"{module_file.name}: no Example::"


@pytest.mark.parametrize("module_file", MODULE_FILES, ids=lambda p: p.stem)
def test_docstring_has_an_inventory(module_file: Path) -> None:
    inventory = inventory_of(module_file.read_text())
    counts = inventory.get("counts") or {}
    assert counts.get("resources"), f"{module_file.name}: no Inventory:: with counts"
    assert sum(n for kind, n in counts.items() if kind != "resources") == counts["resources"]


@pytest.mark.parametrize("module_file", MODULE_FILES, ids=lambda p: p.stem)
def test_copied_alone_the_example_synthesizes(module_file: Path, copied_runs) -> None:
    run = copied_runs[module_file.stem].run
    assert run.returncode == 0, run.stderr[-3000:]
    resource_types = json.loads(run.stdout.strip().splitlines()[-1])
    counts = inventory_of(module_file.read_text())["counts"]
    assert set(resource_types) == set(counts) - {"resources"}


@pytest.mark.parametrize("module_file", MODULE_FILES, ids=lambda p: p.stem)
def test_terraform_plans_what_the_inventory_says(module_file: Path, copied_plans) -> None:
    run = copied_plans.get(module_file.stem)
    assert run is not None, f"{module_file.name}: the example did not synthesize"
    assert run.ok, f"terraform {run.failed_step} failed:\n{run.output[-3000:]}"
    assert inventory_problems(inventory_of(module_file.read_text()), run.plan()) == []


def test_the_inventory_check_names_each_difference() -> None:
    plan = {
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": "google_pubsub_topic.m_inquiries_76EC951F",
                        "type": "google_pubsub_topic",
                        "values": {"name": "inquiries", "labels": {"app": "agents"}},
                    },
                    {
                        "address": "google_pubsub_subscription.m_push_5DB6A371",
                        "type": "google_pubsub_subscription",
                        "values": {"ack_deadline_seconds": 60, "retry_policy": [{"a": "1s"}]},
                    },
                ]
            }
        }
    }
    good = {
        "counts": {"google_pubsub_topic": 1, "google_pubsub_subscription": 1, "resources": 2},
        "values": {
            "google_pubsub_topic.m_inquiries": {"labels": {"app": "agents"}},
            "google_pubsub_subscription.m_*": {"retry_policy": [{"a": "1s"}]},
        },
    }
    assert inventory_problems(good, plan) == []
    bad = {
        "counts": {"google_pubsub_topic": 2, "resources": 2},
        "values": {
            "google_pubsub_topic.m_inquiries": {"name": "events", "kms_key_name": "k"},
            "google_pubsub_subscription.m_push": {
                "ack_deadline_seconds": "60",
                "retry_policy": [{"a": "1s"}, {"a": "2s"}],
            },
            "google_pubsub_topic.m_*x": {},
        },
    }
    assert inventory_problems(bad, plan) == [
        "counts: planned {'google_pubsub_topic': 1, 'google_pubsub_subscription': 1,"
        " 'resources': 2}, the inventory says {'google_pubsub_topic': 2, 'resources': 2}",
        "google_pubsub_topic.m_inquiries.name: planned 'inquiries', the inventory says 'events'",
        "google_pubsub_topic.m_inquiries.kms_key_name: not in the plan (unknown until apply?)",
        "google_pubsub_subscription.m_push.ack_deadline_seconds: planned 60, the inventory"
        " says '60'",
        "google_pubsub_subscription.m_push.retry_policy: planned [{'a': '1s'}], the inventory"
        " says [{'a': '1s'}, {'a': '2s'}]",
        "google_pubsub_topic.m_*x: 0 planned resources match, one expected",
    ]


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
