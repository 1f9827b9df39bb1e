"""Write app/data/english_words.txt: the most frequent English words, one per line.

Why: the typo tolerance of the support agent (app/domain/text_matching.py) must never "correct" a
real word into a vocabulary word ("shoes" into "shows", "there" into "where"); a typed word
on this list is taken as written. The list comes from the word frequencies shipped with
pyspellchecker (MIT licence, https://github.com/barrust/pyspellchecker), which this script
needs and the app does not:

    .venv/bin/pip install pyspellchecker==0.9.1
    .venv/bin/python scripts/make_word_list.py
"""

from __future__ import annotations

import gzip
import json
import re
from importlib import resources
from pathlib import Path

WORDS = 40_000
OUT = Path(__file__).resolve().parents[1] / "app" / "data" / "english_words.txt"
HEADER = (
    "# The 40,000 most frequent English words of pyspellchecker's word frequency list\n"
    "# (MIT licence, https://github.com/barrust/pyspellchecker); made by\n"
    "# scripts/make_word_list.py. Typo correction leaves these words as typed.\n"
)


def main() -> None:
    data = resources.files("spellchecker").joinpath("resources/en.json.gz").read_bytes()
    frequencies: dict[str, int] = json.loads(gzip.decompress(data))
    letters = re.compile(r"[a-z]{2,}")
    ranked = sorted(
        (w for w in frequencies if letters.fullmatch(w)), key=lambda w: (-frequencies[w], w)
    )
    OUT.write_text(HEADER + "\n".join(sorted(ranked[:WORDS])) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({WORDS} words)")


if __name__ == "__main__":
    main()
