"""The default `Model`: deterministic rules, offline, the same answer every time.

It is what the tests, `make run` and `make eval` use, so routing and replies never depend on
a network or on sampling; the Gemini adapter implements the same port for production wording.
A turn is folded and tokenized (`app.domain.text_matching`), each word mapped to the vocabulary word
it stands for when it is a typo of one, and the phrases of `rules_vocabulary` decide the intent,
in an order that puts what the customer explicitly asks for first: an order number or "I
want" makes a refund, a return or an export an action; the same words in a general question
("how long does a refund take?") are a question for the FAQ. Besides the intent it reads what
the reply needs from the same words: an order to cancel, "my last order" for a number left out,
and small talk that asks what the assistant is or can do.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from importlib import resources
from typing import Any

from app.adapters import rules_vocabulary as vocab
from app.domain.text_matching import Vocabulary, contains_phrase, find_order_id, words
from app.ports.model import Intent, Understanding

REASONS = vocab.REASONS

Phrases = tuple[tuple[str, ...], ...]


def _phrases(*groups: Sequence[str]) -> Phrases:
    return tuple(tuple(p.split()) for group in groups for p in group)


_INTENT_PHRASES: dict[str, Phrases] = {
    "human": _phrases(vocab.HUMAN_WORDS),
    "talk": _phrases(vocab.TALK_WORDS),
    "someone": _phrases(vocab.SOMEONE_WORDS),
    "greeting": _phrases(vocab.GREETING),
    "thanks": _phrases(vocab.THANKS),
    "goodbye": _phrases(vocab.GOODBYE),
    "small_talk": _phrases(vocab.SMALL_TALK, vocab.IDENTITY),
    "identity": _phrases(vocab.IDENTITY),
    "capabilities": _phrases(vocab.CAPABILITIES),
    "latest_order": _phrases(vocab.LATEST_ORDER),
    "cancel": _phrases(vocab.CANCEL),
    "confirm": _phrases(vocab.CONFIRM),
    "deny": _phrases(vocab.DENY),
    "refund": _phrases(vocab.REFUND),
    "return": _phrases(vocab.RETURN),
    "export": _phrases(vocab.EXPORT),
    "status": _phrases(vocab.STATUS),
    "my_order": _phrases(vocab.MY_ORDER, vocab.LATEST_ORDER),
    "want": _phrases(vocab.WANT),
    "policy": _phrases(vocab.POLICY),
    "delivered_not_received": _phrases(vocab.DELIVERED_NOT_RECEIVED),
    "refund_pending": _phrases(vocab.REFUND_PENDING),
}
# Reasons that only a return answers (damage and wrong items are offered a refund review).
_RETURN_REASONS = frozenset({"does_not_fit", "changed_mind"})
# Small talk asking whether it is a machine: answered with what it is and can do.
_BOT_QUESTIONS = _phrases(vocab.BOT_QUESTIONS)
# Each intent's phrases longest first, sorted once: "thank you" is taken before "thank".
_LONGEST_FIRST = {
    name: tuple(sorted(phrases, key=len, reverse=True)) for name, phrases in _INTENT_PHRASES.items()
}
_REASON_PHRASES = tuple((code, _phrases(phrases)) for code, phrases in REASONS)
_QUESTION_STARTS = _phrases(vocab.QUESTION_STARTS)
_STATUS_QUESTION_STARTS = _phrases(vocab.STATUS_QUESTION_STARTS)
_REQUEST_STARTS = _phrases(vocab.REQUEST_STARTS)
# Words that only ever fill a sentence: a turn made of these and an intent's words is that
# intent alone ("thanks a lot!", "ok then", "hi there").
_FILLER = frozenset(
    {"a", "lot", "so", "much", "very", "then", "there", "again", "you", "u", "all", "guys",
     "team", "for", "the", "help", "your", "that", "its", "it", "is", "was", "great", "good",
     "nice", "perfect", "awesome", "ok", "okay", "oh", "well", "just", "really", "sir", "madam",
     "please", "and", "now", "i", "me", "my", "to", "let", "know", "bot", "assistant", "de"}
)  # fmt: skip
# Short words of other languages that an English typo must not be "corrected" into.
_KNOWN_SHORT = frozenset(w for marker in vocab.LANGUAGE_MARKERS.values() for w in marker)


def _vocabulary_words() -> set[str]:
    found: set[str] = set()
    for phrases in (*_INTENT_PHRASES.values(), *(p for _, p in _REASON_PHRASES)):
        for phrase in phrases:
            found.update(phrase)
    return found


def _known_words() -> set[str]:
    """Correct words of the store's own texts, never taken for typos of the vocabulary."""
    faq = json.loads(resources.files("app.data").joinpath("faq.json").read_text("utf-8"))
    known: set[str] = set(_KNOWN_SHORT)
    for entry in faq["entries"]:
        known.update(words(f"{entry['question']} {entry['answer']}"))
    return known


class RulesModel:
    """Implements `app.ports.model.Model` with phrase rules over typo-tolerant words."""

    name = "rules"

    @functools.cached_property
    def _vocabulary(self) -> Vocabulary:
        """Built at the first turn understood (~15 ms, the English word list read), not when
        an instance starts."""
        vocabulary = _vocabulary_words()
        return Vocabulary(vocabulary, known=_known_words() - vocabulary)

    def understand(self, text: str) -> Understanding:
        tokens = self._vocabulary.normalize(words(text))
        order_id = find_order_id(text)
        intent = self._intent(tokens, order_id, text)
        return Understanding(
            intent=intent,
            order_id=order_id,
            reason=find_reason_in(tokens),
            language=language_of(tokens),
            cancel_order=intent is Intent.ORDER_STATUS and asks_to_cancel(tokens),
            asks_capabilities=intent is Intent.SMALL_TALK and asks_about_itself(tokens),
            latest_order=order_id is None and names_latest_order(tokens),
        )

    def phrase(self, draft: str, facts: dict[str, Any]) -> str:
        """The draft is already the answer; the rules model adds no wording of its own."""
        return draft

    def phrase_stream(self, draft: str, facts: dict[str, Any]) -> Iterator[str]:
        """The whole draft as one piece: nothing is produced bit by bit here."""
        yield draft

    def _intent(self, tokens: list[str], order_id: str | None, text: str) -> Intent:
        def has(name: str) -> bool:
            return _mentions(tokens, _INTENT_PHRASES[name])

        if not tokens:
            return Intent.ORDER_STATUS if order_id else Intent.QUESTION
        if _only(tokens, "confirm"):
            return Intent.CONFIRM
        if order_id is None and _only(_after_greeting(tokens), "capabilities"):
            return Intent.SMALL_TALK  # "what can you do?", "help": answered with what it can do
        if _only(tokens, "deny"):
            return Intent.DENY
        if (
            has("cancel")
            and not has("refund")
            and order_id is None
            and len(tokens) <= 5
            and not _stops_doing(tokens)
        ):
            return Intent.CANCEL
        if self._asks_for_a_person(tokens, has):
            return Intent.HUMAN
        polite = _polite_only(tokens, text, order_id)
        if polite and has("thanks"):
            return Intent.THANKS
        if polite and has("goodbye"):
            return Intent.GOODBYE
        if has("small_talk") and order_id is None:
            return Intent.SMALL_TALK
        return self._request(tokens, order_id, text, has)

    def _request(self, tokens: list[str], order_id: str | None, text: str, has: Any) -> Intent:
        """What the turn asks for, past the conversation's own words (yes, no, stop, a person,
        thanks, small talk): an action, a lookup or a question."""
        rules = has("policy")  # "your send-back rules": about returns, not a return
        general = _general(self._vocabulary.normalize(words(_last_clause(text))))
        question = _is_question(tokens, text) or rules
        if order_id is None and has("refund_pending"):
            return Intent.QUESTION  # "still no refund?": when it comes, not a new review
        action = order_id is not None or (has("want") and not general and not rules)
        action = action or not question
        if has("refund") and action:
            return Intent.REFUND
        if has("return") and action:
            return Intent.RETURN
        if has("export") and (action or _starts(tokens, _REQUEST_STARTS)):
            return Intent.ACCOUNT_EXPORT  # "can I have my data?" asks for it
        if (
            order_id is not None
            and find_reason_in(tokens) in _RETURN_REASONS
            and not (has("status") or asks_to_cancel(tokens))
        ):
            return Intent.RETURN  # "A1005 is too big": a return to confirm, not a lookup
        if order_id is not None and (has("status") or has("my_order") or len(tokens) <= 4):
            return Intent.ORDER_STATUS
        if order_id is None and has("delivered_not_received"):
            return Intent.QUESTION
        if (
            order_id is None
            and has("my_order")
            and (has("status") or _only(tokens, "my_order"))  # not "invoice for my order"
            and (not _general(tokens) or _starts(tokens, _STATUS_QUESTION_STARTS))
        ):
            return Intent.ORDER_STATUS
        for name, intent in (
            ("thanks", Intent.THANKS),
            ("goodbye", Intent.GOODBYE),
            ("greeting", Intent.GREETING),
        ):
            if _only(tokens, name):
                return intent
        if order_id is not None:
            return Intent.ORDER_STATUS  # an order number with words we do not know
        return Intent.QUESTION

    @staticmethod
    def _asks_for_a_person(tokens: list[str], has: Any) -> bool:
        """Asking to talk to a person, not asking about one ("why does a staff member...") or
        telling what one said ("your agent told me I'd get a refund")."""
        if contains_phrase(tokens, ("are", "you")) or (has("identity") and not has("want")):
            return False  # "are you a human?", "am I talking to a bot?" are small talk
        general, talk, request = _general(tokens), has("talk"), has("want")
        if not (request or talk) and not _NARRATED.isdisjoint(tokens):
            return False
        if has("human") and (talk or request or not general):
            return True
        return has("someone") and (talk or (request and not general))


# Telling what a person did, not asking for one: "the manager promised me free shipping".
_NARRATED = frozenset(
    {"said", "told", "promised", "spoke", "talked", "replied", "answered", "wrote", "gave",
     "offered", "confirmed", "agreed", "yesterday", "earlier", "already", "last"}
)  # fmt: skip

_QUESTION_WORDS = frozenset(
    {"how", "what", "whats", "where", "wheres", "when", "why", "which", "who", "wie", "wo",
     "warum", "comment", "ou", "quand", "pourquoi", "como", "donde", "cuando", "porque"}
)  # fmt: skip
MAX_POLITE_WORDS = 10


def _polite_only(tokens: list[str], text: str, order_id: str | None) -> bool:
    """A short turn with no order and no question in it: thanks or goodbye can stand alone
    ("can I pay later" is a question, not a goodbye)."""
    return (
        order_id is None
        and len(tokens) <= MAX_POLITE_WORDS
        and "?" not in text
        and not _QUESTION_WORDS.intersection(tokens)
        and not _general(tokens)
    )


def _last_clause(text: str) -> str:
    """The last sentence: "what data do you have? download it" asks for a download."""
    clauses = [c for c in re.split(r"[?.!;]+", text) if c.strip()]
    return clauses[-1] if clauses else text


def _is_question(tokens: list[str], text: str) -> bool:
    """Ends with "?", starts like a question, or asks why anywhere ("my refund is under
    review, why")."""
    return text.rstrip().endswith("?") or _general(tokens) or not _WHY.isdisjoint(tokens)


_WHY = frozenset({"why", "warum", "pourquoi"})


def _after_greeting(tokens: list[str]) -> list[str]:
    """The turn without the greeting it opens with: "hi, what can you do?"."""
    for phrase in _LONGEST_FIRST["greeting"]:
        if len(tokens) > len(phrase) and tuple(tokens[: len(phrase)]) == phrase:
            return tokens[len(phrase) :]
    return tokens


def _stops_doing(tokens: list[str]) -> bool:
    """ "stop sending me newsletters" asks the store to stop doing something; it does not
    cancel what the conversation is doing."""
    return any(
        token == "stop" and following.endswith("ing")
        for token, following in itertools.pairwise(tokens)
    )


def _mentions(tokens: list[str], phrases: Phrases) -> bool:
    """Whether any of `phrases` stands in the turn (gaps allowed, see `contains_phrase`)."""
    return any(contains_phrase(tokens, phrase) for phrase in phrases)


def _general(tokens: list[str]) -> bool:
    """A general question: it starts like one ("how long does...", "can I...")."""
    return _starts(tokens, _QUESTION_STARTS)


def _starts(tokens: list[str], starts: Phrases) -> bool:
    return any(list(tokens[: len(start)]) == list(start) for start in starts)


def _only(tokens: list[str], name: str) -> bool:
    """The turn is this intent's phrases and filler words, nothing else."""
    rest = list(tokens)
    for phrase in _LONGEST_FIRST[name]:
        size = len(phrase)
        i = 0
        matched = False
        while i <= len(rest) - size:
            if tuple(rest[i : i + size]) == phrase:
                del rest[i : i + size]
                matched = True
            else:
                i += 1
        if matched and not rest:
            return True
    if len(rest) == len(tokens):
        return False
    return all(token in _FILLER for token in rest) and len(rest) <= 4


def asks_about_itself(tokens: list[str]) -> bool:
    """Who or what the assistant is, or what it can do: "are you a bot?", "help", "hmm"."""
    return (
        _mentions(tokens, _INTENT_PHRASES["identity"])
        or _mentions(tokens, _BOT_QUESTIONS)
        or _only(_after_greeting(tokens), "capabilities")
    )


def names_latest_order(tokens: list[str]) -> bool:
    """ "my last order", "meine letzte Bestellung": the most recent order, without its number."""
    return _mentions(tokens, _INTENT_PHRASES["latest_order"])


def asks_to_cancel(tokens: list[str]) -> bool:
    """The turn uses a word of cancelling an order ("cancel", "stornieren", "annuler")."""
    return _mentions(tokens, _ORDER_CANCEL_PHRASES)


_ORDER_CANCEL_PHRASES = _phrases(vocab.CANCEL_ORDER)


def find_reason_in(tokens: list[str]) -> str | None:
    for code, phrases in _REASON_PHRASES:
        if _mentions(tokens, phrases):
            return code
    return None


def find_reason(text: str) -> str | None:
    """The return or refund reason named in `text` (without typo correction)."""
    return find_reason_in(words(text))


def language_of(tokens: list[str]) -> str:
    """de, fr or es when the turn uses at least two words only that language uses."""
    counts = {
        language: sum(1 for token in tokens if token in markers)
        for language, markers in _MARKER_SETS.items()
    }
    language, hits = max(counts.items(), key=lambda item: item[1])
    return language if hits >= 2 else "en"


_MARKER_SETS = {language: frozenset(m) for language, m in vocab.LANGUAGE_MARKERS.items()}

__all__ = [
    "REASONS",
    "RulesModel",
    "asks_about_itself",
    "asks_to_cancel",
    "find_order_id",
    "find_reason",
    "language_of",
    "names_latest_order",
]
