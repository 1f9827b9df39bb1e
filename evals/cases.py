"""Loading the evaluation cases: YAML files of `tune/` and `check/`, checked before any runs.

A wrong case (a missing `say`, an unknown category or route, a duplicate id) stops the run with
the file, the case and the field named, so a typo in a case never counts as an agent miss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EVALS = Path(__file__).resolve().parent
SPLITS = ("tune", "check")
CATEGORIES = (
    "faq", "order_status", "return", "refund", "account_export", "flow_control", "small_talk",
    "human", "off_topic", "typos", "multi_turn", "multilingual",
)  # fmt: skip
ROUTES = ("faq", "session", "inquiry", "handoff")
TURN_KEYS = {
    "say",
    "route",
    "intent",
    "faq",
    "must",
    "must_not",
    "wait",
    "result_must",
    "result_must_not",
}
CASE_KEYS = {"id", "category", "customer", "note", "turns"}


class CaseError(ValueError):
    """A case file the runner cannot use; the message names the file, case and field."""


@dataclass(frozen=True)
class Turn:
    say: str
    route: str | None = None
    intent: str | None = None
    faq: str | None = None
    checks_faq: bool = False  # whether `faq` was given (None then means "no entry")
    must: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    wait: bool = False
    result_must: tuple[str, ...] = ()
    result_must_not: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    id: str
    split: str
    category: str
    customer: str
    turns: tuple[Turn, ...]
    file: str
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def load(root: Path = EVALS) -> list[Case]:
    """Every case of both splits, in file order; CaseError on the first wrong one."""
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for split in SPLITS:
        for path in sorted((root / split).glob("*.yaml")):
            raw = yaml.safe_load(path.read_text("utf-8")) or []
            if not isinstance(raw, list):
                raise CaseError(f"{path}: must be a list of cases")
            for entry in raw:
                case = _case(entry, split, path)
                if case.id in seen:
                    raise CaseError(f"{path}: case id {case.id!r} is also in {seen[case.id]}")
                seen[case.id] = str(path)
                cases.append(case)
    return cases


def _case(entry: Any, split: str, path: Path) -> Case:
    where = f"{path}"
    if not isinstance(entry, dict):
        raise CaseError(f"{where}: each case must be a mapping, got {entry!r}")
    case_id = entry.get("id")
    if not isinstance(case_id, str) or not case_id:
        raise CaseError(f"{where}: a case has no id")
    where = f"{path}: case {case_id}"
    unknown = sorted(set(entry) - CASE_KEYS)
    if unknown:
        raise CaseError(f"{where}: unknown field(s) {unknown}; allowed {sorted(CASE_KEYS)}")
    category = entry.get("category")
    if category not in CATEGORIES:
        raise CaseError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
    turns = entry.get("turns")
    if not isinstance(turns, list) or not turns:
        raise CaseError(f"{where}: turns must be a non-empty list")
    return Case(
        id=case_id,
        split=split,
        category=category,
        customer=str(entry.get("customer", "C001")),
        turns=tuple(_turn(t, f"{where}, turn {n}") for n, t in enumerate(turns, start=1)),
        file=str(path.relative_to(path.parents[1])),
        note=str(entry.get("note", "")),
    )


def _turn(raw: Any, where: str) -> Turn:
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: must be a mapping")
    unknown = sorted(set(raw) - TURN_KEYS)
    if unknown:
        raise CaseError(f"{where}: unknown field(s) {unknown}; allowed {sorted(TURN_KEYS)}")
    say = raw.get("say")
    if not isinstance(say, str) or not say.strip():
        raise CaseError(f"{where}: say must be the customer's text")
    route = raw.get("route")
    if route is not None and route not in ROUTES:
        raise CaseError(f"{where}: route must be one of {', '.join(ROUTES)}, got {route!r}")
    return Turn(
        say=say,
        route=route,
        intent=raw.get("intent"),
        faq=raw.get("faq"),
        checks_faq="faq" in raw,
        must=_texts(raw, "must", where),
        must_not=_texts(raw, "must_not", where),
        wait=bool(raw.get("wait", False)),
        result_must=_texts(raw, "result_must", where),
        result_must_not=_texts(raw, "result_must_not", where),
    )


def _texts(raw: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = raw.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CaseError(f"{where}: {name} must be a list of strings")
    return tuple(value)
