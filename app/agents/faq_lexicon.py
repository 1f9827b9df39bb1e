"""What customers mean by their words: the concepts of this store's questions.

Why: an FAQ entry says "shipping", a customer writes "delivery", "postage" or "do I pay to
send"; bare word overlap misses them. Each concept lists the words and phrases (folded, as
`app.domain.text_matching.fold` leaves them; `...` stands for a few words of any kind) that express
it; the FAQ agent adds a concept's token wherever one of them appears, in the entries and in
the question alike, so they meet on meaning. The forms are data, in app/data/faq_concepts.json
(one form a line: adding a synonym is a one-line change); "@weekend" there stands for the
weekend-delivery phrases built below.

Keep each form to one meaning in this store's questions. A shared concept is also what tells a
store question from an off-topic one (`FaqAgent.relevant`), so an everyday word with other
meanings ("time", "change", "price", "phone", "fix", "store", "use", "weekend") stays out of
the concepts, in the entries' alternates, or comes in only inside a phrase that pins its meaning
("phone number", "close ... account", "saturday delivery"): "what's the price of a new phone?"
or "will it rain this weekend?" must not look like a store question. A phrase's words count
once, as the phrase, so a phrase that also means another concept is listed under both ("where
is my parcel": #track and #parcel). Items and products are what was ordered: they share #order.

Customers who never read the FAQ describe their situation rather than name it ("nothing came to
my inbox", "the app says it was left at my door", "can I get it quicker if I pay extra"), so a
concept also lists the situations that mean it. A single word is matched by its stem, so a form
whose stem has another meaning here ("opened" is "open", "accounting" is "account", "offers" is
"offer") stays out or comes in inside a phrase. A phrase's words are matched without a plural
or third-person "s" ("turns up" is "turn up"), other forms as written ("refunded in" is not
"refund in"). Phrases are matched longest first, so a longer phrase pins the meaning of the
words a shorter one would read otherwise ("postage back").
"""

from __future__ import annotations

import json
from importlib import resources

# A weekend day alone is no store question ("will it rain on saturday?"): it counts only within a
# few words of a word of delivery ("can my parcel come on a saturday", "sunday drop off?").
_MOVERS = (
    "deliver", "delivers", "delivery", "deliveries", "arrive", "arrives", "come", "comes", "bring",
    "brings", "drop", "ship", "ships", "send", "courier", "couriers", "parcel", "parcels",
    "package", "packages", "post", "dispatch", "receive", "order", "orders", "home", "stuff",
    "purchase", "driver", "drivers",
)  # fmt: skip
_DAYS = ("saturday", "saturdays", "sunday", "sundays", "weekend", "weekends", "sat", "sun")
_MOVERS_AFTER = (
    "deliver", "delivery", "deliveries", "courier", "couriers", "arrive", "come", "post", "parcel",
    "parcels", "package", "packages", "drop",
)  # fmt: skip
_WEEKEND = tuple(f"{m} ... {d}" for m in _MOVERS for d in _DAYS) + tuple(
    f"{d} ... {m}" for d in _DAYS for m in _MOVERS_AFTER
)

WEEKEND_MARK = "@weekend"  # in the data file: the `_WEEKEND` phrases, in that place


def _load_concepts() -> dict[str, tuple[str, ...]]:
    raw = resources.files("app.data").joinpath("faq_concepts.json").read_text("utf-8")
    concepts: dict[str, tuple[str, ...]] = {}
    for concept, forms in json.loads(raw).items():
        expanded: list[str] = []
        for form in forms:
            expanded.extend(_WEEKEND if form == WEEKEND_MARK else (form,))
        concepts[concept] = tuple(expanded)
    return concepts


CONCEPTS: dict[str, tuple[str, ...]] = _load_concepts()
