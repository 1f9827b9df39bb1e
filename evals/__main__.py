"""`make eval`: run the evaluation set, print accuracy per category with every miss, write
evals/results.json, and fail below the thresholds on the `check` split.

    python -m evals [--model rules|gemini] [--only tune|check] [--out PATH]

With `--model gemini` the same cases run against Gemini on Vertex AI when Application Default
Credentials and GOOGLE_CLOUD_PROJECT are there; otherwise the run is skipped, saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from evals.cases import CATEGORIES, SPLITS, CaseError, load
from evals.runner import Outcome, Runner

OVERALL_THRESHOLD = 0.90  # on check
CATEGORY_THRESHOLD = 0.80  # every category of check
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def score(outcomes: list[Outcome]) -> dict[str, Any]:
    """Per split: overall and per-category accuracy, with the ids of the cases that missed."""
    report: dict[str, Any] = {}
    for split in SPLITS:
        mine = [o for o in outcomes if o.case.split == split]
        if not mine:
            continue
        per: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in mine:
            per[outcome.case.category].append(outcome)
        report[split] = {
            "cases": len(mine),
            "passed": sum(o.passed for o in mine),
            "accuracy": round(sum(o.passed for o in mine) / len(mine), 4),
            "categories": {
                category: {
                    "cases": len(per[category]),
                    "passed": sum(o.passed for o in per[category]),
                    "accuracy": round(sum(o.passed for o in per[category]) / len(per[category]), 4),
                }
                for category in CATEGORIES
                if per[category]
            },
        }
    return report


def failures(report: dict[str, Any]) -> list[str]:
    """Why the check split does not pass its thresholds (empty when it does)."""
    check = report.get("check")
    if check is None:
        return []
    found = []
    if check["accuracy"] < OVERALL_THRESHOLD:
        found.append(f"check overall {check['accuracy']:.1%} < {OVERALL_THRESHOLD:.0%}")
    for category, figures in check["categories"].items():
        if figures["accuracy"] < CATEGORY_THRESHOLD:
            found.append(f"check {category} {figures['accuracy']:.1%} < {CATEGORY_THRESHOLD:.0%}")
    return found


def table(report: dict[str, Any]) -> str:
    splits = list(report)
    lines = ["category        " + "".join(f"{s:>18}" for s in splits)]
    for category in CATEGORIES:
        cells = []
        for split in splits:
            figures = report[split]["categories"].get(category)
            cells.append(
                f"{figures['passed']:>4}/{figures['cases']:<4} {figures['accuracy']:>6.1%}"
                if figures
                else " " * 18
            )
        lines.append(f"{category:<16}" + "".join(f"{c:>18}" for c in cells))
    lines.append(
        "overall         "
        + "".join(
            f"{report[s]['passed']:>4}/{report[s]['cases']:<4} {report[s]['accuracy']:>6.1%}"
            for s in splits
        )
    )
    return "\n".join(lines)


def build_model(name: str) -> tuple[Any, str | None]:
    """(model, None), or (None, why the run is skipped)."""
    if name == "rules":
        from app.adapters.rules_model import RulesModel

        return RulesModel(), None
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "").strip()
    if not project:
        return None, "GOOGLE_CLOUD_PROJECT is not set"
    try:
        import google.auth

        google.auth.default()
    except Exception as error:  # no Application Default Credentials here
        return None, f"no Application Default Credentials ({type(error).__name__})"
    from app.adapters.gemini_model import GeminiModel
    from app.config.settings import Settings

    settings = Settings.from_env()
    return GeminiModel(project, settings.gemini_location, settings.gemini_model), None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("rules", "gemini"), default="rules")
    parser.add_argument("--only", choices=SPLITS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    try:
        cases = [c for c in load() if args.only in (None, c.split)]
    except CaseError as error:
        print(f"evals: {error}", file=sys.stderr)
        return 2
    model, skipped = build_model(args.model)
    if model is None:
        print(f"evals: the {args.model} run is skipped: {skipped}")
        return 0
    started = time.monotonic()
    runner = Runner(model)
    try:
        outcomes = [runner.run(case) for case in cases]
    finally:
        runner.close()
    report = score(outcomes)
    misses = [m for o in outcomes for m in o.misses]
    print(table(report))
    for miss in misses:
        print(f"  miss [{miss.split}/{miss.category}] {miss.line()}")
    problems = failures(report)
    out = args.out or (
        DEFAULT_OUT
        if args.model == "rules"
        else DEFAULT_OUT.with_name(f"results-{args.model}.json")
    )
    document = {
        "model": args.model,
        "thresholds": {"check_overall": OVERALL_THRESHOLD, "check_category": CATEGORY_THRESHOLD},
        "splits": report,
        "passed": not problems,
        "misses": [m.__dict__ for m in misses],
        "seconds": round(time.monotonic() - started, 1),
    }
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({document['seconds']} s)")
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
