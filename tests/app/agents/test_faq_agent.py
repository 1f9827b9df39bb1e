"""The stateless FAQ agent ranks the shipped knowledge base with BM25."""

from __future__ import annotations

import pytest

from app.agents.faq import (
    QUESTION_WEIGHT,
    FaqAgent,
    FaqEntry,
    load_entries,
    stem,
    tokenize,
)
from app.domain.errors import InvalidInput


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


def build_index(corpus: list[list[str]]):
    """The bm25s library's index of `corpus` (a dev dependency: the reference, not the app's)."""
    import bm25s

    index = bm25s.BM25()
    index.index(corpus, show_progress=False)
    return index


def bm25s_scores(faq: FaqAgent, query: str) -> dict[int, float]:
    """The scores bm25s itself gives: each entry's best phrasing (question or alternate),
    weighted, plus its answer, over the same terms as the agent's."""
    terms = faq.analyzer.terms(query, correct=True)
    phrasings = [(i, p) for i, e in enumerate(faq.entries) for p in e.phrasings]
    by_phrasing = build_index([faq.analyzer.terms(p) for _, p in phrasings])
    answers = build_index([faq.analyzer.terms(f"{e.category} {e.answer}") for e in faq.entries])
    phrasing_scores = by_phrasing.get_scores_from_ids(by_phrasing.get_tokens_ids(terms))
    answer_scores = answers.get_scores_from_ids(answers.get_tokens_ids(terms))
    best: dict[int, float] = {}
    for (entry, _), score in zip(phrasings, phrasing_scores, strict=True):
        best[entry] = max(best.get(entry, 0.0), QUESTION_WEIGHT * float(score))
    totals = {i: best.get(i, 0.0) + float(answer_scores[i]) for i in range(len(faq.entries))}
    return {i: score for i, score in totals.items() if score > 0}


@pytest.mark.parametrize("query", QUERIES + [e.question for e in load_entries()[:10]])
def test_scores_are_bm25s_own_scores(faq, query):
    expected = bm25s_scores(faq, query)
    best = sorted(expected, key=lambda i: (-expected[i], i))[:20]
    hits = faq.search(query, 20)
    assert [h.id for h in hits] == [faq.entries[i].id for i in best]
    assert [h.score for h in hits] == pytest.approx([expected[i] for i in best], abs=1e-4)


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


def test_concept_phrases_match_plural_and_third_person_forms_only(faq):
    units = faq.analyzer.word_terms("when it turns up")  # the lexicon says "turn up"
    assert {"#ship"} in units
    # "refunded in" (to a place) is a refund's destination; "a refund in the chat" is not
    assert "#refund_to" in faq.analyzer.terms("refunded in cash")
    assert "#refund_to" not in faq.analyzer.terms("ask for a refund in the chat")


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("Is delivery free?", "faq-002"),  # delivery means shipping
        ("shipping time?", "faq-003"),
        ("hw do i rset my pasword", "faq-036"),  # typos
        ("can I buy a voucher?", "faq-043"),  # a voucher is a gift card
        ("my parcel says delivered but it isn't here", "faq-008"),
    ],
)
def test_questions_meet_entries_on_meaning(faq, question, entry):
    hit = faq.relevant(question)
    assert hit is not None and hit.id == entry


@pytest.mark.parametrize(
    "question",
    [
        "what is 2+2",
        "do you sell iphones?",
        "who won the match last night?",
        "",
        "the and of",
        "who is the president of the usa",  # a country is no store question by itself
        "is the stock market going up",  # nor "stock" or "market" outside their phrases
    ],
)
def test_off_topic_questions_get_no_entry(faq, question):
    assert faq.relevant(question) is None


def test_more_phrasings_never_outweigh_a_better_match():
    entries = [
        FaqEntry("a", "c", "parcel locker", "answer a"),
        FaqEntry("b", "c", "weekend delivery", "answer b", tuple(f"locker {n}" for n in range(30))),
    ]
    hits = FaqAgent(entries).search("parcel locker", 2)
    assert [h.id for h in hits] == ["a", "b"]


def test_real_words_are_not_corrected_into_the_faq_s_words(faq):
    spelling = faq.analyzer._spelling
    assert spelling.canonical("shoes") == "shoes"  # not "shows"
    assert spelling.canonical("pasword") == "password"
    assert [stem(w) for w in ("shoes", "boxes", "deliveries", "status")] == [
        "shoe",
        "box",
        "delivery",
        "status",
    ]
