"""A reply worded by the model while its pieces go out to the customer (streamed replies).

Why apart from the conversation: the turn is stored only once the whole wording is there, so
streaming changes nothing of what is stored; this only passes each piece on as the model
produces it (`Model.phrase_stream`), and returns the whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.ports.model import Model


def word_streamed(
    model: Model, draft: str, facts: dict[str, Any], on_text: Callable[[str], None]
) -> str:
    """The model's wording of `draft`, each piece handed to `on_text` first; the draft (sent
    whole) when the model words nothing. Raises what the model raises, maybe after pieces."""
    stream = getattr(model, "phrase_stream", None)
    if stream is None:  # a model that cannot stream: its wording in one piece
        worded = model.phrase(draft, facts)
        on_text(worded)
        return worded
    pieces: list[str] = []
    for piece in stream(draft, facts):
        pieces.append(piece)
        on_text(piece)
    worded = "".join(pieces).strip()
    if not worded:
        on_text(draft)
        return draft
    return worded
