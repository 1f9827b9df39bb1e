"""Reading customers' words as they type them: folded, tokenized, matched with typos forgiven.

Why: customers write "wher is my ordr", "retrun", "Rückerstattung" and "A1O17". Text is folded
(lower case, accents and apostrophes dropped, "ß" as "ss") and split into words; a vocabulary
word matches a typed word exactly or, for words of five letters or more, within one edit (a
letter missing, extra, wrong or two swapped) that keeps the first letter, found through a
symmetric-delete index: both sides' one-letter deletions are compared, so a lookup is a few
set probes, not a scan. A typed word that is itself a known word ("there", "store") is never
corrected into another ("where", "stone"). Chat shorthand ("hw", "u") is read as the word it
stands for, and a letter held down ("yesss", "noo") as typed once.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from importlib import resources

_WORD = re.compile(r"[a-z0-9]+")
_APOSTROPHES = str.maketrans({"'": "", "\u2019": "", "\u2018": "", "`": ""})
FUZZY_MIN_LENGTH = 5  # shorter words must match exactly: "sure" is not "sore"

# An order number: A and four digits, where customers also write "a 1017", "A-1017",
# "#1017", "order 1017" and "A1O17" (a letter O for a zero).
_PREFIXED = re.compile(r"(?<![a-z0-9])a\s?[-#]?\s?([0-9o]{4})(?![a-z0-9])")
_HASHED = re.compile(r"(?<![a-z0-9])(?:#|no\.?\s?|nr\.?\s?)\s?([0-9o]{4})(?![a-z0-9])")
_BARE = re.compile(r"(?<![a-z0-9#+\-*/.,:])([0-9]{4})(?![a-z0-9+\-*/.,:])")
ORDER_WORDS = frozenset(
    {"order", "orders", "number", "bestellung", "commande", "pedido", "auftrag", "parcel",
     "package", "paket", "colis", "paquete", "ordr", "oder"}
)  # fmt: skip


@functools.cache
def english_words() -> frozenset[str]:
    """Common English words (app/data/english_words.txt): never taken for typos."""
    text = resources.files("app.data").joinpath("english_words.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def fold(text: str) -> str:
    """Lower case without accents or apostrophes: "Où est ma commande" -> "ou est ma commande"."""
    text = text.lower().replace("ß", "ss").translate(_APOSTROPHES)
    if text.isascii():
        return text  # nothing to decompose: most texts, at a fraction of the cost
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def find_order_id(text: str) -> str | None:
    """The first order number in `text`, normalized ("A1017"), or None."""
    folded = fold(text)
    for pattern in (_PREFIXED, _HASHED):
        match = pattern.search(folded)
        digits = _digits(match.group(1)) if match else None
        if digits:
            return "A" + digits
    match = _BARE.search(folded)
    if match:
        before = _WORD.findall(folded[: match.start()])[-2:]
        alone = not _WORD.findall(folded[: match.start()] + folded[match.end() :])
        if alone or ORDER_WORDS.intersection(before):
            return "A" + match.group(1)
    return None


def _digits(group: str) -> str | None:
    """Four digits, a letter O read as a zero; None when it is a word, not a number."""
    if sum(c.isdigit() for c in group) < 3:
        return None
    return group.replace("o", "0")


# Chat shorthand, read as the word it stands for before any typo is looked for.
SHORTHAND = {
    "hw": "how", "wat": "what", "wht": "what", "whn": "when", "u": "you", "ur": "your",
    "r": "are", "abt": "about", "cuz": "because", "coz": "because", "bc": "because",
    "pkg": "package", "mch": "much", "wen": "when", "oder": "order", "thnx": "thanks",
    "thnks": "thanks", "thanx": "thanks", "gudbye": "goodbye", "acct": "account", "addr": "address",
}  # fmt: skip


def _unstretched(typed: str) -> list[str]:
    """`typed` with a letter typed over and over once more written once: "yesss" -> "yes"."""
    if not re.search(r"(.)\1", typed):
        return []
    once = re.sub(r"(.)\1+", r"\1", typed)
    twice = re.sub(r"(.)\1{2,}", r"\1\1", typed)
    return [form for form in dict.fromkeys((twice, once)) if form != typed]


def _one_edit_apart(a: str, b: str) -> bool:
    """One letter missing, extra or wrong, or two neighbours swapped ("delivry" is one edit
    from "delivery", two from "deliver")."""
    if len(a) > len(b):
        a, b = b, a
    start = 0
    while start < len(a) and a[start] == b[start]:
        start += 1
    if len(a) < len(b):
        return a[start:] == b[start + 1 :]
    if a[start + 1 :] == b[start + 1 :]:
        return True
    return a[start : start + 2] == b[start : start + 2][::-1] and a[start + 2 :] == b[start + 2 :]


def _transpositions(word: str) -> set[str]:
    return {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))} | {word}


class Vocabulary:
    """Words to recognise, each matched exactly or within one edit; `known` words are left
    as typed."""

    def __init__(self, vocabulary: Iterable[str], known: Iterable[str] = ()) -> None:
        self.words = frozenset(vocabulary)
        # English words are looked up apart, and only for a word that would be corrected:
        # reading the list costs ~10 ms, which building a vocabulary should not pay.
        self.known = frozenset(known) | self.words
        self._by_deletion: dict[str, set[str]] = {}
        for word in self.words:
            if len(word) >= FUZZY_MIN_LENGTH:
                for variant in _deletions(word):
                    self._by_deletion.setdefault(variant, set()).add(word)
        self.canonical = functools.lru_cache(maxsize=16384)(self._canonical)

    def _canonical(self, typed: str) -> str:
        """The vocabulary word `typed` stands for, or `typed` itself."""
        typed = SHORTHAND.get(typed, typed)
        if typed in self.known or typed.isdigit():
            return typed
        stretched = [w for w in _unstretched(typed) if w in self.words]  # "yesss", "noo"
        if stretched and typed not in english_words():  # "too" is not "to"
            return stretched[0]
        if len(typed) < FUZZY_MIN_LENGTH - 1:
            return typed
        found: set[str] = set()
        for variant in _deletions(typed):
            found |= self._by_deletion.get(variant, set())
        close = sorted(w for w in found if w[0] == typed[0] and abs(len(w) - len(typed)) <= 1)
        if len(close) > 1:  # two deletions can meet two edits apart: keep the one-edit words
            close = [w for w in close if _one_edit_apart(typed, w)]
        if not close:  # short words: two letters swapped ("tlak"), nothing else
            close = sorted(w for w in _transpositions(typed) if w in self.words)
        if len(close) != 1 or typed in english_words():
            return typed
        return close[0]

    def normalize(self, tokens: Sequence[str]) -> list[str]:
        return [self.canonical(token) for token in tokens]


GAP = "..."  # in a phrase: up to MAX_GAP words of any kind ("send ... back")
MAX_GAP = 3


def contains_phrase(tokens: Sequence[str], phrase: Sequence[str]) -> bool:
    """Whether the words of `phrase` appear in `tokens` in order: consecutively, except where
    the phrase has a `GAP` ("send ... back" matches "send the blue lamp back")."""
    if len(phrase) == 1:
        return phrase[0] in tokens
    return any(_matches_at(tokens, i, phrase) for i in range(len(tokens)))


def _matches_at(tokens: Sequence[str], start: int, phrase: Sequence[str]) -> bool:
    if not phrase:
        return True
    head, rest = phrase[0], phrase[1:]
    if head == GAP:
        return any(_matches_at(tokens, start + skip, rest) for skip in range(MAX_GAP + 1))
    return start < len(tokens) and tokens[start] == head and _matches_at(tokens, start + 1, rest)
