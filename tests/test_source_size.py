"""Source files stay short enough to read whole, and functions short enough to hold in mind.

Why: a file past a few hundred lines mixes several ideas, and a function past a screen does
several things; both are where a reader copying from this repository gets lost. The limits
are the ones issue 16 sets: no source file over 400 lines, no function over 60 (decorators and
docstring included). Data lives in data files (app/data/), not in long Python literals.

`CHECKED` lists the packages held to it. modules/ and infra/ join once their long files and
functions are split (the work on the modules runs apart from the app's); add them here then.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKED = ("app", "devtools")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def long_functions(path: Path) -> list[str]:
    """`name (lines)` of each function in `path` longer than MAX_FUNCTION_LINES."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{node.name} ({length} lines)")
    return found


@pytest.mark.parametrize("package", CHECKED)
def test_no_source_file_is_over_400_lines(package: str) -> None:
    files = sources(package)
    assert files, f"{package}/ has no Python sources"
    long = {
        path.relative_to(REPO).as_posix(): lines
        for path in files
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert long == {}


@pytest.mark.parametrize("package", CHECKED)
def test_no_function_is_over_60_lines(package: str) -> None:
    long = {
        path.relative_to(REPO).as_posix(): found
        for path in sources(package)
        if (found := long_functions(path))
    }
    assert long == {}


def test_the_checks_see_a_long_file_and_a_long_function(tmp_path: Path) -> None:
    """The measure itself: a function of 61 lines is found, one of 60 is not."""
    body = "\n".join(f"    x{n} = {n}" for n in range(59))
    (tmp_path / "fits.py").write_text(f"def fits():\n{body}\n")
    (tmp_path / "long.py").write_text(f"@decorated\ndef long():\n{body}\n")
    assert long_functions(tmp_path / "fits.py") == []
    assert long_functions(tmp_path / "long.py") == ["long (61 lines)"]
