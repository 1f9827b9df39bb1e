"""The agent's evaluation gates `make test`: the check split holds its thresholds.

The whole set runs through the real HTTP API in process with the rules model, as `make eval`
runs it; a miss prints with the case, the turn and what came instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.__main__ import failures, score
from evals.cases import CATEGORIES, CaseError, load
from evals.runner import Runner


@pytest.fixture(scope="module")
def outcomes():
    from app.adapters.rules_model import RulesModel

    runner = Runner(RulesModel())
    try:
        yield [runner.run(case) for case in load()]
    finally:
        runner.close()


def test_the_set_is_large_and_covers_every_category_in_both_splits():
    cases = load()
    assert len(cases) >= 200
    for split in ("tune", "check"):
        assert {c.category for c in cases if c.split == split} == set(CATEGORIES)


def test_every_faq_entry_is_asked_at_least_three_ways():
    from app.agents.faq import load_entries

    asked: dict[str, int] = {}
    for case in load():
        for turn in case.turns:
            if case.category == "faq" and turn.faq:
                asked[turn.faq] = asked.get(turn.faq, 0) + 1
    assert {e.id: asked.get(e.id, 0) >= 3 for e in load_entries()} == {
        e.id: True for e in load_entries()
    }


def test_the_check_split_passes_its_thresholds(outcomes):
    report = score(outcomes)
    misses = [m.line() for o in outcomes if o.case.split == "check" for m in o.misses]
    assert failures(report) == [], "\n".join(misses)


def test_a_wrong_case_file_names_the_case_and_field(tmp_path: Path):
    (tmp_path / "tune").mkdir()
    (tmp_path / "check").mkdir()
    (tmp_path / "tune" / "x.yaml").write_text(
        "- id: x-1\n  category: faq\n  turns:\n    - say: hi\n      route: nowhere\n"
    )
    with pytest.raises(CaseError, match=r"x-1, turn 1: route must be one of"):
        load(tmp_path)
    (tmp_path / "tune" / "x.yaml").write_text("- id: x-1\n  category: gossip\n  turns: []\n")
    with pytest.raises(CaseError, match=r"x-1: category must be one of"):
        load(tmp_path)


def test_a_miss_is_reported_with_what_came_instead():
    from evals.cases import Case, Turn
    from evals.runner import _check

    case = Case("c-1", "tune", "faq", "C001", (), "f.yaml")
    turn = Turn(
        say="Is shipping free?", route="faq", faq="faq-002", checks_faq=True, must=("75 EUR",)
    )
    got = {
        "status": 200,
        "route": "faq",
        "intent": "question",
        "source": "faq-013",
        "faq": "faq-013",
        "text": "Returns are free.",
    }
    (miss,) = _check(case, 1, turn, got)
    assert "faq faq-002" in miss.expected and "'75 EUR' in the reply" in miss.expected
    assert miss.got["source"] == "faq-013"


def test_the_gemini_run_is_skipped_with_a_reason_without_credentials(monkeypatch, capsys):
    from evals.__main__ import main

    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    assert main(["--model", "gemini"]) == 0
    assert "the gemini run is skipped: GOOGLE_CLOUD_PROJECT is not set" in capsys.readouterr().out
