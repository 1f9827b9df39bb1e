"""One figure per measurement, with its same-run baseline; printed as a table, saved as JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """`value` measured against `baseline` (what `baseline_of` names), both in `unit`.

    `ratio` is value / baseline; `better` says which way is good ("lower" or "higher"), and
    `target` quotes the goal from the issue when there is one.
    """

    name: str
    value: float
    unit: str
    baseline: float
    baseline_of: str
    better: str = "lower"
    target: str = ""
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        return round(self.value / self.baseline, 3) if self.baseline else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["value"] = round(self.value, 4)
        data["baseline"] = round(self.baseline, 4)
        data["ratio"] = self.ratio
        return data


def machine() -> dict[str, Any]:
    """Enough about the machine to compare two results files honestly."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(load[0], 2),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_json(figures: list[Figure], path: Path, skipped: list[str], seconds: float) -> None:
    document = {
        "machine": machine(),
        "took_seconds": round(seconds, 1),
        "skipped": skipped,
        "figures": [figure.as_dict() for figure in figures],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(figures: list[Figure]) -> str:
    """A fixed-width table: name, value, baseline, ratio, and what the baseline is."""
    rows = [("figure", "value", "baseline", "ratio", "unit", "baseline is")]
    for f in figures:
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}"
        rows.append((f.name, _number(f.value), _number(f.baseline), ratio, f.unit, f.baseline_of))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:], strict=True)]
        lines.append("  ".join([*cells, row[-1]]))
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)
