"""The stateless FAQ agent: every request carries its whole context."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.http.bodies import FAQ_SEARCH
from app.http.context import services
from app.http.validation import json_body

blueprint = Blueprint("faq", __name__, url_prefix="/v1/faq")


@blueprint.post("/search")
def search():
    body = json_body(FAQ_SEARCH)
    hits = services().faq.search(body["query"], body["top_k"])
    return jsonify(results=[hit.as_dict() for hit in hits])
