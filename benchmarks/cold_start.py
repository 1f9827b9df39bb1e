"""Cold start per role and backend: fresh processes that import the entry point and create the
app, against fresh processes that create an empty Flask app. Median of a few runs each."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from pathlib import Path

from benchmarks.processes import PYTHON, base_env, run_probe
from benchmarks.results import Figure

BACKEND_LIBRARIES = {"firestore", "firestore_v1", "firestore_bundle", "pubsub", "pubsub_v1"}

PRODUCTION_AUTH = {"AUTH_MODE": "identity_platform", "AUTH_PROJECT_ID": "acme-agents-dev"}


def _probe(kind: str, role: str, env: Mapping[str, str], runs: int) -> dict:
    walls, inside, peaks, packages = [], [], [], set()
    for _ in range(runs):
        finished = run_probe([PYTHON, "-m", "benchmarks.cold_probe", kind, role], env)
        if finished.returncode != 0:
            raise RuntimeError(f"cold start of {kind} {role} failed: {finished.stderr[-2000:]}")
        result = json.loads(finished.stdout.strip().splitlines()[-1])
        walls.append(finished.seconds)
        inside.append(result["seconds"])
        peaks.append(finished.peak_rss_mib)
        packages.update(result["google_cloud_packages"])
    return {
        "wall": statistics.median(walls),
        "inside": statistics.median(inside),
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
    """
    bare = _probe("bare", "api", base_env(), runs)
    figures = []
    for label, extra in backends.items():
        for role in ("api", "worker"):
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
                    probe["wall"],
                    "s",
                    bare["wall"],
                    "fresh python: import Flask, create an empty app",
                    target="under 1 s with the local backend" if label == "local" else "",
                    detail=f"process wall, median of {runs}; import+create "
                    f"{probe['inside']:.3f}s in-process; imported {imported}",
                )
            )
            figures.append(
                Figure(
                    f"rss.coldstart.{role}.{label}",
                    probe["peak"],
                    "MiB",
                    bare["peak"],
                    "fresh python with an empty Flask app",
                )
            )
    factory_env = base_env(DATA_DIR=str(workdir / "cold-factory"), **PRODUCTION_AUTH)
    factory = _probe("factory", "api", factory_env, runs)
    figures.append(
        Figure(
            "coldstart.api.local.factory_only",
            factory["wall"],
            "s",
            bare["wall"],
            "fresh python: import Flask, create an empty app",
            detail="create_app without the entry point's logging set-up; google.cloud imported: "
            + (", ".join(factory["packages"]) or "none"),
        )
    )
    return figures
