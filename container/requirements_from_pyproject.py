"""Print the app's runtime requirements: `[project].dependencies` of pyproject.toml, one per line.

Why: the image installs exactly what the app needs at run time, pinned in one place; the CDK
(`infra` extra) and the test tools (`dev` extra) never reach it. Used by the Dockerfile's build
stage: `python requirements_from_pyproject.py pyproject.toml > requirements.txt`.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def runtime_requirements(pyproject: Path) -> list[str]:
    """The `dependencies` list; each entry must pin one version with `==`."""
    with pyproject.open("rb") as handle:
        project = tomllib.load(handle).get("project", {})
    requirements = project.get("dependencies")
    if not isinstance(requirements, list) or not requirements:
        raise SystemExit(f"{pyproject}: [project].dependencies must be a non-empty list")
    unpinned = [r for r in requirements if not isinstance(r, str) or r.count("==") != 1]
    if unpinned:
        raise SystemExit(
            f"{pyproject}: [project].dependencies must pin each version with ==, got {unpinned}"
        )
    return requirements


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise SystemExit("usage: requirements_from_pyproject.py PYPROJECT_TOML")
    print("\n".join(runtime_requirements(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
