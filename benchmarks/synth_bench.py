"""The synth figures: all environments in one process against the floor, and a no-op `make synth`.

Each synth runs in a fresh process (imports are most of the cost, and a warm process would hide
them), with -O as `make synth` runs it, and so does the floor; the figure is the median of a few
runs. The no-op runs `make synth` twice in a scratch
copy of the repository (the `.venv` linked in), so the user's `cdktf.out` is never touched:
the first builds, the second must find nothing to do.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from benchmarks.processes import PYTHON, REPO, base_env, run_probe
from benchmarks.results import Figure

SYNTH_TREE = (
    "Makefile",
    "make",
    "requirements",
    "modules",
    "infra",
    "environments",
    "app",
    "pyproject.toml",
    "cdktf.json",
)
PROVIDER = "cdktn_provider_google"


def provider_modules(env: dict[str, str]) -> list[str]:
    """The provider submodules `infra.stack` imports (each binding is imported on its own)."""
    probe = (
        "import json, sys; import infra.stack; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith('{PROVIDER}.')"
        " and not m.split('.')[-1].startswith('_'))))"
    )
    finished = run_probe([PYTHON, "-c", probe], env)
    if finished.returncode != 0:
        raise RuntimeError(f"cannot import infra.stack: {finished.stderr[-2000:]}")
    return json.loads(finished.stdout)


def _taking_turns(argvs: list[list[str]], env: dict[str, str], runs: int) -> list[tuple]:
    """`_median_run` of each command, the commands taking turns `runs` times, so that drift on
    a shared machine moves them alike."""
    finished: list[list] = [[] for _ in argvs]
    for _ in range(runs):
        for argv, results in zip(argvs, finished, strict=True):
            results.append(_run_ok(argv, env, REPO))
    return [_summary(results) for results in finished]


def _run_ok(argv: list[str], env: dict[str, str], cwd: Path):
    finished = run_probe(argv, env, limit=300, cwd=cwd)
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:5])} failed: {finished.stderr[-2000:]}")
    return finished


def _summary(results: list) -> tuple[float, float, list[float]]:
    seconds = statistics.median(r.seconds for r in results)
    peak = max(r.peak_rss_mib for r in results)
    return seconds, peak, [round(r.seconds, 2) for r in results]


def _median_run(argv: list[str], env: dict[str, str], runs: int, cwd: Path = REPO):
    return _summary([_run_ok(argv, env, cwd) for _ in range(runs)])


def scratch_copy(workdir: Path) -> Path:
    """The files `make synth` reads, copied with their times, and the .venv linked in."""
    root = workdir / "repo"
    root.mkdir()
    for name in SYNTH_TREE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, root / name)
    (root / ".venv").symlink_to(REPO / ".venv")
    return root


def synth_figures(workdir: Path, runs: int) -> list[Figure]:
    env = base_env()
    modules = provider_modules(env)
    # Both as `make synth` runs the synth: with -O (see make/infra.mk).
    floor_argv = [
        PYTHON,
        "-O",
        "-m",
        "benchmarks.synth_floor",
        str(workdir / "floor-out"),
        *modules,
    ]
    synth_argv = [PYTHON, "-O", "-m", "infra", "synth", "--out", str(workdir / "synth-out")]
    (floor_s, floor_peak, floor_runs), (full_s, full_peak, full_runs) = _taking_turns(
        [floor_argv, synth_argv], env, runs
    )

    root = scratch_copy(workdir)
    make_env = base_env()
    make_env.pop("PYTHONPATH")  # make runs from the scratch copy, which holds its own sources
    first = run_probe(["make", "--no-print-directory", "synth"], make_env, limit=300, cwd=root)
    if first.returncode != 0:
        raise RuntimeError(f"make synth failed in the scratch copy: {first.stderr[-2000:]}")
    noop_s, _, noop_runs = _median_run(
        ["make", "--no-print-directory", "synth"], make_env, runs, cwd=root
    )
    help_s, _, _ = _median_run(["make", "--no-print-directory", "help"], make_env, runs, cwd=root)
    noop_out = run_probe(["make", "--no-print-directory", "synth"], make_env, cwd=root)
    did_nothing = "synthesized" not in noop_out.stdout

    floor_of = f"import cdktn + {len(modules)} provider bindings + synth an empty stack"
    return [
        Figure(
            "synth.all_envs",
            full_s,
            "s",
            floor_s,
            floor_of,
            target="within 1.25x of the floor",
            detail=f"median of {runs} fresh processes taking turns: {full_runs} "
            f"vs floor {floor_runs}",
        ),
        Figure(
            "synth.noop_make",
            noop_s,
            "s",
            help_s,
            "`make help` (make start + Makefile parse)",
            target="under 1 s",
            detail=f"runs {noop_runs}; first make synth {first.seconds:.1f}s; "
            f"second did {'nothing' if did_nothing else 'WORK (not a no-op)'}",
        ),
        Figure(
            "rss.synth.all_envs",
            full_peak,
            "MiB",
            floor_peak,
            "the synth floor's process",
            detail="peak RSS of the python process and its reaped node child",
        ),
    ]
