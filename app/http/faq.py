"""The stateless FAQ agent: every request carries its whole context."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from app.domain.records import FaqHit
from app.http.access import public
from app.http.bodies import FAQ_SEARCH
from app.http.context import services
from app.http.validation import json_body

blueprint = Blueprint("faq", __name__, url_prefix="/v1/faq")


@blueprint.post("/search")
@public  # stateless, holds no personal data
def search() -> ResponseReturnValue:
    body = json_body(FAQ_SEARCH)
    hits = services().faq.search(body["query"], body["top_k"])
    return Response(results_json(hits), mimetype="application/json")


def results_json(hits: Sequence[FaqHit]) -> str:
    """`{"results": [hit, ...]}` exactly as `jsonify` writes it, each entry's text encoded once.

    The same few dozen entries are answered again and again; only their scores change. On the
    busiest route, encoding their text once instead of per request is a good part of its cost.
    """
    parts = [f"{_entry_prefix(h.id, h.question, h.answer)}{h.score!r}}}" for h in hits]
    return f'{{"results":[{",".join(parts)}]}}\n'


@functools.lru_cache(maxsize=1024)
def _entry_prefix(entry_id: str, question: str, answer: str) -> str:
    """A hit's JSON object up to its score: `{"id":…,"question":…,"answer":…,"score":`."""
    text = json.dumps(
        {"id": entry_id, "question": question, "answer": answer}, separators=(",", ":")
    )
    return f'{text[:-1]},"score":'
