"""The stateless FAQ agent: BM25 ranking over the shipped knowledge base, on words and on what
they mean.

Each text, entry or question, becomes terms: its content words (typos corrected against the
FAQ's own words, lightly stemmed) plus the concepts they express (`faq_lexicon`: "delivery",
"postage" and "send" all add `#ship`), so a customer's words meet an entry's on meaning, not
only on spelling. Each phrasing of an entry's question (the question and its alternates) is a
document; an entry scores its best phrasing, weighted, plus its answer: the question is what
customers' words resemble most.

`relevant` is the router's: the best entry only when it answers the question, judged by two
things measured on the question's words: a BM25 score floor, and coverage, the share of the
question's informative words (weighted by their inverse document frequency, a word the FAQ
never uses weighing the most) that the entry contains. "Do you sell iphones?" shares "sell"
with the gift card entry but not "iphones", so it gets no unrelated answer.

The index is built once, at the first search, and only read afterwards, so one agent serves
every request and thread with no state. It is postings: each term's Lucene BM25 weight
in each document (k1 1.5, b 0.75, the formula and defaults of the `bm25s` library, which the
tests hold it to), computed here in plain Python; a query's scores are sums over them. Doing
without bm25s keeps numpy out of every cold start, and for a few hundred short documents plain
Python is as fast as numpy's per-call overhead.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from app.agents.faq_lexicon import CONCEPTS
from app.domain.errors import InvalidInput
from app.domain.records import FaqHit
from app.domain.text_matching import GAP, MAX_GAP, Vocabulary, words

MAX_QUERY_CHARS = 500
MAX_TOP_K = 20
MIN_RELEVANT_SCORE = 1.0  # below this the best entry is a guess, not an answer
MIN_COVERAGE = 0.15  # the share of the question's informative words the entry must contain
QUESTION_WEIGHT = 2.0  # an entry's question weighs this much more than its answer

K1, B = 1.5, 0.75  # BM25's term-frequency saturation and length normalisation
# Words that carry no question's meaning: common English function words, then chat filler.
_STOPWORDS = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with", "i", "me", "my", "you", "your", "we",
    "our", "us", "do", "does", "did", "can", "could", "how", "what", "when", "where", "which",
    "who", "why", "have", "has", "am", "get", "would", "should", "s", "t", "d", "any", "so",
    "whats", "from", "about", "onto", "up", "its", "im", "ive", "id", "hi", "hello", "please",
    "pls", "thanks", "guys", "ok", "okay", "hey", "need", "want", "like", "know", "tell",
    "anything", "something", "someone", "way", "still", "just", "really", "also", "got", "u",
    "ur", "ya", "yes", "well", "much", "many", "one", "ones", "thats", "dont", "youre",
    "wanna", "gonna", "let", "give", "make", "made", "go", "going", "see", "once", "out",
    "say", "says", "here", "isnt", "actually", "roughly", "exactly", "already",
}  # fmt: skip


@functools.lru_cache(maxsize=8192)  # customers reuse a small vocabulary; the cache stays bounded
def stem(word: str) -> str:
    """A light English suffix stripper: enough for "orders"/"order", "shipping"/"ship",
    "deliveries"/"delivery", "boxes"/"box", "shoes"/"shoe"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) >= 3 and word[-1] == word[-2] and word[-1] not in "ls":
                word = word[:-1]  # shipp -> ship
            return word
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")) and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


@functools.lru_cache(maxsize=8192)
def singular(word: str) -> str:
    """A word without a plural or third-person "s", as concept phrases are matched: lighter
    than `stem`, which would read "refunded in" as "refund in"."""
    if word == GAP or len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") else word


def tokenize(text: str) -> list[str]:
    """Content words, stemmed: what the index would hold of `text` without its concepts."""
    return [stem(w) for w in words(text) if w not in _STOPWORDS and not w.isdigit()]


@dataclass(frozen=True)
class FaqEntry:
    id: str
    category: str
    question: str
    answer: str
    alternates: tuple[str, ...] = ()  # other ways customers ask the same question

    @property
    def phrasings(self) -> tuple[str, ...]:
        return (self.question, *self.alternates)


def load_entries() -> list[FaqEntry]:
    """The FAQ shipped as package data in `app/data/faq.json`."""
    raw = json.loads(resources.files("app.data").joinpath("faq.json").read_text("utf-8"))
    return [
        FaqEntry(e["id"], e["category"], e["question"], e["answer"], tuple(e.get("alternates", ())))
        for e in raw["entries"]
    ]


class Analyzer:
    """Text -> terms: content stems and `#concept` tokens, each grouped by the word it came
    from (a question's coverage is counted per word)."""

    def __init__(self, known_texts: Iterable[str]) -> None:
        self._word_concepts: dict[str, set[str]] = {}
        phrases: dict[tuple[str, ...], set[str]] = {}
        for concept, forms in CONCEPTS.items():
            for form in forms:
                phrase = tuple(form.split())
                if len(phrase) == 1:
                    self._word_concepts.setdefault(stem(phrase[0]), set()).add(f"#{concept}")
                else:  # "turns up" is "turn up"; "refunded in" is not "refund in"
                    phrase = tuple(singular(w) for w in phrase)
                    phrases.setdefault(phrase, set()).add(f"#{concept}")
        # longest first: "gift card" is one thing, not a gift and a card
        # by first word, longest first: a text is only tried against the phrases its own words
        # start, and "gift card" wins over "card"
        self._phrases_by_start: dict[
            str, list[tuple[tuple[str, ...], set[str], frozenset[str]]]
        ] = {}
        for phrase, concepts in sorted(phrases.items(), key=lambda item: -len(item[0])):
            words_needed = frozenset(w for w in phrase if w != GAP)
            self._phrases_by_start.setdefault(phrase[0], []).append(
                (phrase, concepts, words_needed)
            )
        known = {w for text in known_texts for w in words(text)}
        known |= {w for forms in CONCEPTS.values() for form in forms for w in form.split()}
        self._spelling = Vocabulary(known - {GAP})

    def word_terms(self, text: str, correct: bool = False) -> list[set[str]]:
        """One set of terms per phrase or content word: the concepts it expresses, or its stem
        when it expresses none. A phrase's words count once, as the phrase."""
        tokens = words(text)
        if correct:
            tokens = self._spelling.normalize(tokens)
        singulars = [singular(token) for token in tokens]
        units: list[set[str]] = []
        used: set[int] = set()
        present = set(singulars)
        starts: dict[str, list[int]] = {}
        for position, form in enumerate(singulars):
            starts.setdefault(form, []).append(position)
        candidates = [
            (phrase, concepts)
            for start in starts
            for phrase, concepts, needed in self._phrases_by_start.get(start, ())
            if needed <= present
        ]
        for phrase, concepts in sorted(candidates, key=lambda item: -len(item[0])):
            at = _find(singulars, phrase, used, starts[phrase[0]])
            if at is not None:
                units.append(set(concepts))
                used.update(at)
        for position, token in enumerate(tokens):
            if position in used or token in _STOPWORDS or token.isdigit():
                continue
            stemmed = stem(token)
            units.append(set(self._word_concepts.get(stemmed, ())) or {stemmed})
        return units

    def terms(self, text: str, correct: bool = False) -> list[str]:
        return [term for unit in self.word_terms(text, correct) for term in sorted(unit)]


class FaqIndex:
    """The postings and statistics of a set of entries; built once, then only read."""

    def __init__(self, entries: list[FaqEntry]) -> None:
        self.entries = entries
        self.analyzer = Analyzer(
            f"{' '.join(e.phrasings)} {e.category} {e.answer}" for e in self.entries
        )
        # Each phrasing of a question is a document of its own; an entry's question score is
        # its best phrasing's, so more phrasings never dilute the first.
        self._phrasing_entry: list[int] = []
        phrasings: list[list[str]] = []
        for position, entry in enumerate(self.entries):
            for phrasing in entry.phrasings:
                phrasings.append(self.analyzer.terms(phrasing))
                self._phrasing_entry.append(position)
        answers = [self.analyzer.terms(f"{e.category} {e.answer}") for e in self.entries]
        # Question postings as {phrasing: weight} per term, and each term's best weight per
        # entry: a phrasing only one query term reaches scores that term's weight, so only the
        # phrasings two terms share need summing (see `ranked`).
        self._question_postings = {term: dict(pairs) for term, pairs in postings(phrasings).items()}
        self._entry_best: dict[str, dict[int, float]] = {}
        for term, weights in self._question_postings.items():
            best: dict[int, float] = {}
            for row, weight in weights.items():
                owner = self._phrasing_entry[row]
                if weight > best.get(owner, 0.0):
                    best[owner] = weight
            self._entry_best[term] = best
        self._answer_postings = postings(answers)
        corpus = [list(answers[i]) for i in range(len(self.entries))]
        for position, terms in zip(self._phrasing_entry, phrasings, strict=True):
            corpus[position] += terms
        self.entry_vocab = [set(terms) for terms in corpus]
        self._idf = _idf(corpus)
        self._max_idf = max(self._idf.values())
        self.position = {e.id: i for i, e in enumerate(self.entries)}

    def ranked(self, terms: list[str], top_k: int) -> list[FaqHit]:
        """The best `top_k` entries: each entry's best phrasing (weighted) plus its answer.

        An entry's question score is its best phrasing's sum of the query terms' weights. A
        phrasing one term reaches scores that term's weight, which the term's best weight per
        entry already covers; only phrasings two terms share are summed, in the terms' order,
        so the floats are those of summing every phrasing term by term. The hot path of every
        FAQ search: the shared phrasings come from set intersections, done in C.
        """
        postings_of = self._question_postings
        present = [term for term in terms if term in postings_of]
        totals: dict[int, float] = {}
        best = totals.get
        for term in present:
            for entry, weight in self._entry_best[term].items():
                weighted = QUESTION_WEIGHT * weight
                if weighted > best(entry, 0.0):
                    totals[entry] = weighted
        shared: set[int] = set()
        for i, term in enumerate(present):
            keys = postings_of[term].keys()
            for other in present[i + 1 :]:
                shared |= keys & postings_of[other].keys()
        phrasing_entry = self._phrasing_entry
        for phrasing in shared:
            score = 0.0
            for term in present:
                part = postings_of[term].get(phrasing)
                if part is not None:
                    score += part
            entry = phrasing_entry[phrasing]
            weighted = QUESTION_WEIGHT * score
            if weighted > best(entry, 0.0):
                totals[entry] = weighted
        for term in terms:
            for entry, weight in self._answer_postings.get(term, ()):
                totals[entry] = best(entry, 0.0) + weight
        ranked = sorted(totals.items(), key=_best_first)[:top_k]
        entries = self.entries
        return [
            FaqHit(entries[i].id, entries[i].question, entries[i].answer, round(score, 4))
            for i, score in ranked
        ]

    def coverage(self, units: list[set[str]], entry: int) -> float:
        """The idf-weighted share of the question's words whose terms the entry contains."""
        vocabulary = self.entry_vocab[entry]
        total = covered = 0.0
        for unit in units:
            weight = max((self._idf[t] for t in unit if t in self._idf), default=self._max_idf)
            total += weight
            if unit & vocabulary:
                covered += weight
        return covered / total if total else 0.0


class FaqAgent:
    """Implements `app.ports.services.FaqPort`.

    The entries are read when the agent is made (a broken FAQ file stops the start); the index
    (~35 ms) is built by the first search, so an instance woken by any other request, and the
    worker, which never searches, start without it.
    """

    def __init__(self, entries: list[FaqEntry] | None = None) -> None:
        self.entries = entries if entries is not None else load_entries()
        if not self.entries:
            raise ValueError("the FAQ has no entries")
        self._index: FaqIndex | None = None
        self._building = threading.Lock()

    @property
    def index(self) -> FaqIndex:
        index = self._index
        if index is None:
            with self._building:  # one build, however many requests arrive at once
                if self._index is None:
                    self._index = FaqIndex(self.entries)
                index = self._index
        return index

    @property
    def analyzer(self) -> Analyzer:
        return self.index.analyzer

    def search(self, query: Any, top_k: Any = 5) -> list[FaqHit]:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query must be a non-empty string", field="query")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(f"query must be at most {MAX_QUERY_CHARS} characters", field="query")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise InvalidInput(f"top_k must be an integer from 1 to {MAX_TOP_K}", field="top_k")
        index = self.index
        return index.ranked(index.analyzer.terms(query, correct=True), top_k)

    def relevant(self, text: str) -> FaqHit | None:
        """The entry that answers `text`, or None when no entry is relevant enough: an
        off-topic question gets no unrelated answer."""
        query = text[:MAX_QUERY_CHARS]
        if not query.strip():
            return None
        index = self.index
        units = index.analyzer.word_terms(query, correct=True)
        hits = index.ranked([t for unit in units for t in sorted(unit)], 1)
        if not hits or hits[0].score < MIN_RELEVANT_SCORE:
            return None
        best = index.position[hits[0].id]
        vocabulary = index.entry_vocab[best]
        about_it = any(t.startswith("#") and t in vocabulary for unit in units for t in unit)
        if not about_it or index.coverage(units, best) < MIN_COVERAGE:
            return None  # sharing a word or two is not answering the question
        return hits[0]

    def coverage(self, units: list[set[str]], entry: int) -> float:
        """The idf-weighted share of the question's words whose terms the entry contains."""
        return self.index.coverage(units, entry)


def _find(
    tokens: list[str], phrase: tuple[str, ...], used: set[int], starts: list[int]
) -> list[int] | None:
    """The positions of `phrase`'s words in `tokens` (gaps allowed), none of them used yet,
    trying only the `starts` where its first word stands."""
    for start in starts:
        at = _positions(tokens, start, phrase)
        if at is not None and not used.intersection(at):
            return at
    return None


def _positions(tokens: list[str], start: int, phrase: tuple[str, ...]) -> list[int] | None:
    if not phrase:
        return []
    head, rest = phrase[0], phrase[1:]
    if head == GAP:
        for skip in range(MAX_GAP + 1):
            found = _positions(tokens, start + skip, rest)
            if found is not None:
                return found
        return None
    if start < len(tokens) and tokens[start] == head:
        found = _positions(tokens, start + 1, rest)
        return None if found is None else [start, *found]
    return None


def _idf(corpus: list[list[str]]) -> dict[str, float]:
    """Each term's inverse document frequency over the entries (BM25's formula)."""
    count = len(corpus)
    frequency: dict[str, int] = {}
    for terms in corpus:
        for term in set(terms):
            frequency[term] = frequency.get(term, 0) + 1
    return {t: math.log(1 + (count - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}


def _best_first(item: tuple[int, float]) -> tuple[float, int]:
    entry, score = item
    return -score, entry


def postings(corpus: list[list[str]]) -> dict[str, tuple[tuple[int, float], ...]]:
    """Each term's (document, Lucene BM25 weight) pairs over `corpus`, document i being
    corpus[i]: idf * tf / (tf + K1 * (1 - B + B * length / average length))."""
    idf = _idf(corpus)
    average = sum(len(terms) for terms in corpus) / max(1, len(corpus)) or 1.0
    found: dict[str, list[tuple[int, float]]] = {}
    for document, terms in enumerate(corpus):
        norm = K1 * (1 - B + B * len(terms) / average)
        for term, count in sorted(Counter(terms).items()):
            found.setdefault(term, []).append((document, idf[term] * count / (count + norm)))
    return {term: tuple(pairs) for term, pairs in found.items()}
