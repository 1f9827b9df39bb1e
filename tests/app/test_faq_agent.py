"""The stateless FAQ agent ranks the shipped knowledge base with BM25."""

from __future__ import annotations

import pytest

from app.agents.faq import FaqAgent, FaqEntry, build_index, load_entries, stem, tokenize
from app.errors import InvalidInput


@pytest.fixture(scope="module")
def faq() -> FaqAgent:
    return FaqAgent()


def test_shipped_faq_has_at_least_40_distinct_entries():
    entries = load_entries()
    assert len(entries) >= 40
    assert len({e.id for e in entries}) == len(entries)
    assert all(e.question.strip() and e.answer.strip() for e in entries)


def test_every_question_finds_its_own_entry_first(faq):
    for entry in faq.entries:
        assert faq.search(entry.question, 1)[0].id == entry.id, entry.question


@pytest.mark.parametrize(
    ("query", "expected_question"),
    [
        ("how do I reset my password", "How do I reset my password?"),
        ("Do you ship to Switzerland or other countries?", "Do you ship internationally?"),
        ("accepted payment methods", "Which payment methods do you accept?"),
        ("my teapot arrived broken", "What if my item arrived damaged or broken?"),
        ("how long until refunds reach my bank", "How long does a refund take?"),
        ("cancel an order", "Can I cancel my order?"),
    ],
)
def test_paraphrased_queries_rank_the_right_entry_first(faq, query, expected_question):
    assert faq.search(query, 3)[0].question == expected_question


def test_results_are_best_first_positive_and_limited_to_top_k(faq):
    hits = faq.search("shipping costs and free delivery", 4)
    assert len(hits) == 4
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)
    assert faq.search("shipping costs and free delivery", 1) == hits[:1]


def test_words_the_faq_never_uses_match_nothing(faq):
    assert faq.search("xylophone quasar", 5) == []
    assert faq.search("the and of", 5) == []  # stopwords only


def test_search_is_stateless(faq):
    first = faq.search("return label", 5)
    faq.search("payment declined", 5)
    assert faq.search("return label", 5) == first


QUERIES = [
    "How long does delivery take and can I track my parcel?",
    "refund refund refund",  # a repeated word counts each time, as in bm25s
    "my teapot arrived broken, I want my money back",
    "password reset email never came",
    "gift card balance and vouchers",
    "xylophone",
]


@pytest.mark.parametrize("query", QUERIES + [e.question for e in load_entries()[:10]])
def test_scores_are_bm25s_own_scores(faq, query):
    index = build_index(faq.entries)
    expected = index.get_scores_from_ids(index.get_tokens_ids(tokenize(query)))
    matching = [i for i in range(len(faq.entries)) if expected[i] > 0]
    best = sorted(matching, key=lambda i: (-expected[i], i))[:20]
    hits = faq.search(query, 20)
    assert [h.id for h in hits] == [faq.entries[i].id for i in best]
    assert [h.score for h in hits] == pytest.approx([float(expected[i]) for i in best], abs=1e-4)


def test_ranking_uses_bm25_term_rarity():
    entries = [
        FaqEntry("a", "c", "parcel parcel parcel", "common words"),
        FaqEntry("b", "c", "parcel locker", "rare words"),
        FaqEntry("c", "c", "parcel", "common"),
    ]
    agent = FaqAgent(entries)
    assert agent.search("locker", 3)[0].id == "b"
    assert [h.id for h in agent.search("locker", 3)] == ["b"]


@pytest.mark.parametrize(
    ("query", "top_k", "field"),
    [
        ("", 5, "query"),
        ("   ", 5, "query"),
        (None, 5, "query"),
        ("x" * 501, 5, "query"),
        ("shipping", 0, "top_k"),
        ("shipping", 21, "top_k"),
        ("shipping", True, "top_k"),
        ("shipping", "3", "top_k"),
    ],
)
def test_bad_input_names_the_field(faq, query, top_k, field):
    with pytest.raises(InvalidInput) as caught:
        faq.search(query, top_k)
    assert caught.value.field == field


def test_tokenizer_folds_plurals_and_verb_forms():
    assert stem("orders") == "order"
    assert stem("shipping") == "ship"
    assert stem("returned") == "return"
    assert tokenize("How do I track my Orders?") == ["track", "order"]
