"""Customers' words as typed: folded, typos forgiven, real words left alone."""

from __future__ import annotations

import pytest

from app.domain.text_matching import Vocabulary, contains_phrase, english_words, fold, words


def test_folding_drops_case_accents_and_apostrophes():
    assert fold("Où est ma COMMANDE?") == "ou est ma commande?"
    assert fold("Rückerstattung, Straße") == "ruckerstattung, strasse"
    assert words("I don't know, it's A1017!") == ["i", "dont", "know", "its", "a1017"]


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary(["where", "order", "refund", "return", "talk", "human", "status"])


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("wher", "where"),  # a letter missing
        ("ordr", "order"),
        ("refnd", "refund"),
        ("retrun", "return"),  # two letters swapped
        ("stauts", "status"),
        ("tlak", "talk"),  # a short word: swapped letters only
        ("humann", "human"),  # a letter too many
    ],
)
def test_typos_become_the_word_meant(vocabulary, typed, meant):
    assert vocabulary.canonical(typed) == meant


@pytest.mark.parametrize("typed", ["there", "shoes", "retain", "order", "tall", "folder"])
def test_real_words_and_distant_words_stay_as_typed(vocabulary, typed):
    assert vocabulary.canonical(typed) == typed


def test_the_first_letter_is_kept():
    assert Vocabulary(["where"]).canonical("xhere") == "xhere"


def test_an_ambiguous_typo_is_left_alone():
    both = Vocabulary(["cards", "carts"])
    assert both.canonical("carns") == "carns"


def test_of_two_words_the_typo_could_be_the_one_a_single_edit_away_wins():
    # "delivry" loses one letter of "delivery"; "deliver" is two edits away (e out, y in),
    # though both share the deletion "delivr"
    assert Vocabulary(["deliver", "delivery"]).canonical("delivry") == "delivery"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("yesss", "yes"), ("noo", "no"), ("pleeease", "please"), ("hw", "how"), ("u", "you")],
)
def test_held_down_letters_and_chat_shorthand(typed, meant):
    assert Vocabulary(["yes", "no", "please", "how", "you"]).canonical(typed) == meant


def test_a_doubled_letter_of_a_real_word_stays():
    assert Vocabulary(["yes", "to"]).canonical("too") == "too"


def test_the_word_list_knows_common_words_only():
    known = english_words()
    assert {"shoes", "there", "jeans", "delivery"} <= known
    assert not {"wher", "ordr", "pasword", "refnd"} & known


@pytest.mark.parametrize(
    ("tokens", "phrase", "found"),
    [
        (["send", "it", "back"], ("send", "...", "back"), True),
        (["send", "the", "blue", "lamp", "back"], ("send", "...", "back"), True),
        (
            ["send", "me", "the", "invoice", "and", "then", "you", "can", "take", "it", "back"],
            ("send", "...", "back"),
            False,
        ),
        (["where", "is", "my", "order"], ("where", "is"), True),
        (["is", "where"], ("where", "is"), False),
    ],
)
def test_phrases_with_gaps(tokens, phrase, found):
    assert contains_phrase(tokens, phrase) is found
