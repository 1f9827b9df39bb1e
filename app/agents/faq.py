"""The stateless FAQ agent: BM25 ranking (the `bm25s` library) over the shipped knowledge base.

The index is built once when the agent is created (a few milliseconds for the shipped FAQ)
and only read afterwards, so one agent serves every request and thread with no state.
"""

from __future__ import annotations

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
        # The question counts three times: it is what a customer's words resemble most.
        corpus = [
            tokenize(f"{e.question} {e.question} {e.question} {e.category} {e.answer}")
            for e in self.entries
        ]
        self._index = bm25s.BM25()
        self._index.index(corpus, show_progress=False)

    def search(self, query: Any, top_k: Any = 5) -> list[FaqHit]:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query must be a non-empty string", field="query")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(f"query must be at most {MAX_QUERY_CHARS} characters", field="query")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise InvalidInput(f"top_k must be an integer from 1 to {MAX_TOP_K}", field="top_k")
        token_ids = self._index.get_tokens_ids(tokenize(query))
        if not token_ids:
            return []
        scores = self._index.get_scores_from_ids(token_ids)
        ranked = sorted(
            (i for i in range(len(self.entries)) if scores[i] > 0),
            key=lambda i: (-float(scores[i]), i),
        )
        return [
            FaqHit(
                id=self.entries[i].id,
                question=self.entries[i].question,
                answer=self.entries[i].answer,
                score=round(float(scores[i]), 4),
            )
            for i in ranked[:top_k]
        ]
