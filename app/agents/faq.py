"""The stateless FAQ agent: BM25 ranking (the `bm25s` library) over the shipped knowledge base.

The index is built once when the agent is created (a few milliseconds for the shipped FAQ)
and only read afterwards, so one agent serves every request and thread with no state.

bm25s computes every term's BM25 weight in every entry; a query's score in an entry is the sum
of its terms' weights there, which is all `bm25s.BM25.get_scores_from_ids` does per query. For
a knowledge base of a few dozen entries, numpy's per-call overhead is most of that query's
cost, so the agent reads each term's weights out of the index once, as postings, and sums them
in plain Python: the same scores, several times faster (tests/app/test_faq_agent.py compares
the two).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import bm25s

from app.domain import FaqHit
from app.errors import InvalidInput

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

MAX_QUERY_CHARS = 500
MAX_TOP_K = 20

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN) | {
    "i", "me", "my", "you", "your", "we", "our", "us", "do", "does", "did", "can", "could",
    "how", "what", "when", "where", "which", "who", "why", "have", "has", "am", "get", "would",
    "should", "there", "s", "t", "d", "any", "so",
}  # fmt: skip


@functools.lru_cache(maxsize=8192)  # customers reuse a small vocabulary; the cache stays bounded
def stem(word: str) -> str:
    """A light English suffix stripper: enough for "orders"/"order", "shipping"/"ship"."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if suffix in ("ing", "ed") and len(word) >= 3 and word[-1] == word[-2]:
                word = word[:-1]  # shipp -> ship
            break
    return word


def tokenize(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


@dataclass(frozen=True)
class FaqEntry:
    id: str
    category: str
    question: str
    answer: str


def load_entries() -> list[FaqEntry]:
    """The FAQ shipped as package data in `app/data/faq.json`."""
    raw = json.loads(resources.files("app.data").joinpath("faq.json").read_text("utf-8"))
    return [FaqEntry(e["id"], e["category"], e["question"], e["answer"]) for e in raw["entries"]]


class FaqAgent:
    """Implements `app.services.FaqService`."""

    def __init__(self, entries: list[FaqEntry] | None = None) -> None:
        self.entries = entries if entries is not None else load_entries()
        if not self.entries:
            raise ValueError("the FAQ has no entries")
        self._postings = _postings(build_index(self.entries))

    def search(self, query: Any, top_k: Any = 5) -> list[FaqHit]:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query must be a non-empty string", field="query")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(f"query must be at most {MAX_QUERY_CHARS} characters", field="query")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise InvalidInput(f"top_k must be an integer from 1 to {MAX_TOP_K}", field="top_k")
        totals: dict[int, float] = {}
        for token in tokenize(query):
            for entry, weight in self._postings.get(token, ()):
                totals[entry] = totals.get(entry, 0.0) + weight
        ranked = sorted(totals.items(), key=_best_first)[:top_k]
        entries = self.entries
        return [
            FaqHit(entries[i].id, entries[i].question, entries[i].answer, round(score, 4))
            for i, score in ranked
        ]


def build_index(entries: list[FaqEntry]) -> bm25s.BM25:
    """The bm25s index of `entries`, entry i being document i."""
    # The question counts three times: it is what a customer's words resemble most.
    corpus = [
        tokenize(f"{e.question} {e.question} {e.question} {e.category} {e.answer}") for e in entries
    ]
    index = bm25s.BM25()
    index.index(corpus, show_progress=False)
    return index


def _best_first(item: tuple[int, float]) -> tuple[float, int]:
    entry, score = item
    return -score, entry


def _postings(index: bm25s.BM25) -> dict[str, tuple[tuple[int, float], ...]]:
    """Each indexed term's (entry, BM25 weight) pairs, read from `index` once per term.

    Only positive weights are kept (bm25s's IDF is always positive), so every entry a query
    reaches has a positive score.
    """
    postings = {}
    for term, term_id in index.vocab_dict.items():
        if not term:
            continue  # bm25s keeps "" for unknown words; the tokenizer never produces it
        weights = index.get_scores_from_ids([term_id])
        postings[term] = tuple((int(i), float(weights[i])) for i in (weights > 0).nonzero()[0])
    return postings
