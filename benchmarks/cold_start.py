"""Cold start per role and backend: fresh processes that import the entry point, create the app
and answer the role's first request, against fresh processes that do the same with an empty
Flask app (benchmarks/cold_probe.py). Median of a few runs each."""

from __future__ import annotations

import json
import statistics
import subprocess
from collections.abc import Mapping
from pathlib import Path

from benchmarks.processes import PYTHON, REPO, base_env, run_probe
from benchmarks.results import Figure

BACKEND_LIBRARIES = {"firestore", "firestore_v1", "firestore_bundle", "pubsub", "pubsub_v1"}

PRODUCTION_AUTH = {"AUTH_MODE": "identity_platform", "AUTH_PROJECT_ID": "acme-agents-dev"}
FIRST_REQUEST = {"api": "POST /v1/faq/search", "worker": "GET /healthz"}
COLD_START_TARGET = 2.0  # times the empty Flask app's, for both roles


def _probe(kind: str, role: str, env: Mapping[str, str], runs: int) -> dict:
    answered, create, first, peaks, packages = [], [], [], [], set()
    for _ in range(runs):
        finished = run_probe([PYTHON, "-m", "benchmarks.cold_probe", kind, role], env)
        if finished.returncode != 0:
            raise RuntimeError(
                f"cold start of {kind} {role} failed: {(finished.stdout + finished.stderr)[-2000:]}"
            )
        result = json.loads(finished.stdout.strip().splitlines()[-1])
        answered.append(result["answered_at"] - finished.spawned_at)
        create.append(result["create_seconds"])
        first.append(result["first_request_seconds"])
        peaks.append(finished.peak_rss_mib)
        packages.update(result["google_cloud_packages"])
    return {
        "answered": statistics.median(answered),
        "create": statistics.median(create),
        "first": statistics.median(first),
        "peak": max(peaks),
        "packages": sorted(packages),
    }


def cold_start_figures(
    workdir: Path, backends: Mapping[str, Mapping[str, str]], runs: int
) -> list[Figure]:
    """`backends` maps a label (local, emulators) to the environment that selects it.

    The api starts with Identity Platform's token checks, as on Cloud Run: the keys are fetched
    at the first authenticated request, never at start (the local issuer would instead make a
    key pair at the first start in a fresh DATA_DIR, which no production start pays).
    The app's modules are compiled to bytecode first, as the image does when it is built
    (Flask's, in site-packages, were compiled when installed).
    """
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(REPO / "app")], check=True)
    bare = {role: _probe("bare", role, base_env(), runs) for role in FIRST_REQUEST}
    figures = []
    for label, extra in backends.items():
        for role in FIRST_REQUEST:
            env = base_env(
                DATA_DIR=str(workdir / f"cold-{label}-{role}"), **PRODUCTION_AUTH, **dict(extra)
            )
            probe = _probe("app", role, env, runs)
            backend_libs = [p for p in probe["packages"] if p.split(".")[2] in BACKEND_LIBRARIES]
            others = [p for p in probe["packages"] if p not in backend_libs]
            imported = (
                f"backend libraries {', '.join(backend_libs) or 'none'}; "
                f"other google.cloud packages {', '.join(others) or 'none'}"
            )
            figures.append(
                Figure(
                    f"coldstart.{role}.{label}",
                    probe["answered"],
                    "s",
                    bare[role]["answered"],
                    f"fresh python: an empty Flask app answers {FIRST_REQUEST[role]}",
                    target=f"at most {COLD_START_TARGET:.1f}x",
                    detail=f"spawn to first answer ({FIRST_REQUEST[role]}), median of {runs};"
                    f" in-process: import+create {probe['create']:.3f}s, first request"
                    f" {probe['first']:.3f}s; imported {imported}",
                )
            )
            figures.append(
                Figure(
                    f"rss.coldstart.{role}.{label}",
                    probe["peak"],
                    "MiB",
                    bare[role]["peak"],
                    "fresh python with an empty Flask app",
                )
            )
    return figures
