"""Streamed replies: POST /v1/sessions/{id}/messages with `Accept: text/event-stream`.

`delta` events as the model words the reply, then `turn` with the JSON the plain call answers;
the plain call is unchanged. The turn is stored whole before the `turn` event, and an error
once the stream has begun is an `error` event. The Gemini adapter streams with the SDK's
`generate_content_stream`, here on a fake client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from google.genai import errors
from google.oauth2.credentials import Credentials

from app.adapters.gemini_model import GeminiModel
from app.adapters.rules_model import RulesModel
from app.domain.errors import Unavailable
from app.http import create_app
from app.wiring import build_services
from tests.support.sse import parse

STREAM = {"Accept": "text/event-stream"}
FAQ = "What payment methods do you accept?"


class GatedModel(RulesModel):
    """The rules model's decisions, worded in three pieces; the second waits for the test."""

    def __init__(self, fail_after_first: bool = False) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.fail_after_first = fail_after_first

    def phrase_stream(self, draft: str, facts: dict[str, Any]) -> Iterator[str]:
        yield "Here is "
        assert self.gate.wait(30), "the test never read the first piece"
        if self.fail_after_first:
            raise Unavailable("the model stopped answering")
        yield "what I found: "
        yield draft


@pytest.fixture
def make_api(settings, identity, bearer):
    built = []

    def make(model=None):
        api_settings = replace(settings, agent_role="api")
        services = build_services(api_settings, model=model)
        built.append(services)
        client = create_app(api_settings, services, identity=identity).test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = bearer(customer_id="C001")["Authorization"]
        session_id = client.post("/v1/sessions", json={}).get_json()["id"]
        return services, client, f"/v1/sessions/{session_id}/messages"

    yield make
    for services in built:
        services.close()


def stream(client, path: str, text: str = FAQ, **headers: str):
    response = client.post(path, json={"text": text}, headers={**STREAM, **headers}, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    return response, parse(response.response)


def test_deltas_then_the_turn_as_the_plain_call_answers_it(make_api):
    services, client, path = make_api()
    response, events = stream(client, path)
    received = list(events)
    response.close()
    assert [event.event for event in received] == ["delta", "turn"]
    turn = received[-1].json
    assert received[0].json == {"text": turn["reply"]["text"]}  # the rules model: whole, once
    plain = client.post(path, json={"text": FAQ}).get_json()
    assert list(turn) == list(plain)
    assert (turn["route"], turn["source"]) == (plain["route"], plain["source"])
    stored = services.store.latest_messages(path.split("/")[3], 4)[:2]
    assert [m.as_dict() for m in stored] == [turn["message"], turn["reply"]]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, */*"])
def test_without_asking_for_events_the_answer_is_json_as_before(make_api, accept):
    _, client, path = make_api()
    headers = {} if accept is None else {"Accept": accept}
    response = client.post(path, json={"text": FAQ}, headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json()["reply"]["role"] == "agent"


def test_pieces_go_out_while_the_model_words_and_the_turn_is_stored_whole(make_api):
    model = GatedModel()
    services, client, path = make_api(model)
    session_id = path.split("/")[3]
    response, events = stream(client, path)
    first = next(events)
    assert (first.event, first.json) == ("delta", {"text": "Here is "})
    # The model is still wording: nothing of the turn is stored yet.
    assert services.store.latest_messages(session_id, 10) == []
    model.gate.set()
    rest = list(events)
    response.close()
    assert [event.event for event in rest] == ["delta", "delta", "turn"]
    worded = "".join(e.json["text"] for e in [first, *rest[:2]])
    turn = rest[-1].json
    assert turn["reply"]["text"] == worded.strip()
    stored = services.store.latest_messages(session_id, 10)
    assert [m.as_dict() for m in stored] == [turn["message"], turn["reply"]]


def test_a_wording_that_fails_halfway_stores_the_draft_which_the_turn_carries(make_api):
    model = GatedModel(fail_after_first=True)
    _, client, path = make_api(model)
    response, events = stream(client, path)
    assert next(events).json == {"text": "Here is "}
    model.gate.set()
    rest = list(events)
    response.close()
    assert [event.event for event in rest] == ["turn"]
    # The draft is stored, and the turn says so: the client shows it instead of the pieces.
    draft = client.post(path, json={"text": FAQ}).get_json()["reply"]["text"]  # not streamed
    assert rest[0].json["reply"]["text"] == draft


def test_an_error_before_the_first_piece_is_answered_with_its_status(make_api):
    _, client, path = make_api()
    unknown = client.post("/v1/sessions/nope/messages", json={"text": FAQ}, headers=STREAM)
    assert unknown.status_code == 404
    assert unknown.mimetype == "application/problem+json"
    empty = client.post(path, json={"text": " "}, headers=STREAM)
    assert (empty.status_code, empty.get_json()["field"]) == (422, "text")


def test_an_error_after_the_stream_began_is_an_error_event_and_nothing_is_stored(
    make_api, monkeypatch
):
    services, client, path = make_api()

    def store_down(turn):
        raise Unavailable("the store does not answer", retry_after=3)

    monkeypatch.setattr(services.store, "append_turn", store_down)
    response, events = stream(client, path)
    received = list(events)
    response.close()
    assert [event.event for event in received] == ["delta", "error"]
    problem = received[-1].json
    assert (problem["status"], problem["retry_after"]) == (503, 3)
    assert problem["type"].endswith("unavailable") and problem["instance"] == path
    monkeypatch.undo()
    assert services.store.latest_messages(path.split("/")[3], 10) == []


def test_a_retried_key_streams_the_first_turn_again_without_deltas(make_api):
    _, client, path = make_api()
    first = client.post(path, json={"text": FAQ}, headers={"Idempotency-Key": "k-1"}).get_json()
    response, events = stream(client, path, **{"Idempotency-Key": "k-1"})
    received = list(events)
    response.close()
    assert [event.event for event in received] == ["turn"]
    assert received[0].json == first


# --- Gemini: token by token with the SDK's streaming call, on a fake client -------------------


class FakeModels:
    def __init__(self, pieces: list[str], error: Exception | None = None) -> None:
        self.pieces, self.error, self.calls = pieces, error, []

    def generate_content_stream(self, *, model: str, contents: str, config: Any):
        self.calls.append({"model": model, "contents": contents, "config": config})
        for n, text in enumerate(self.pieces, 1):
            usage = SimpleNamespace(prompt_token_count=40, candidates_token_count=n)
            yield SimpleNamespace(text=text, usage_metadata=usage)
        if self.error is not None:
            raise self.error


def gemini(models: FakeModels) -> GeminiModel:
    model = GeminiModel(
        project="demo-project",
        location="europe-west1",
        model="gemini-test",
        credentials=Credentials(token="test-token"),
    )
    model._client = SimpleNamespace(models=models)
    return model


def test_gemini_streams_the_wording_piece_by_piece_and_logs_usage_once(caplog):
    models = FakeModels(["\n  Good news:", " order A1003", None, " is on its way!"])
    model = gemini(models)
    with caplog.at_level("INFO", logger="app.adapters.gemini_model"):
        pieces = list(model.phrase_stream("Order A1003 has shipped.", {"order_id": "A1003"}))
    assert pieces == ["Good news:", " order A1003", " is on its way!"]
    (call,) = models.calls
    assert call["model"] == "gemini-test"
    assert (
        "Order A1003 has shipped." in call["contents"] and '"order_id": "A1003"' in call["contents"]
    )
    (usage,) = [r.json_fields for r in caplog.records if hasattr(r, "json_fields")]
    assert (usage["purpose"], usage["input_tokens"], usage["output_tokens"]) == ("phrase", 40, 4)


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (errors.APIError(429, {"error": {"code": 429, "message": "slow down"}}), 30),
        (errors.APIError(503, {"error": {"code": 503, "message": "busy"}}), 5),
        (ConnectionResetError("reset"), 5),
    ],
)
def test_gemini_stream_errors_become_unavailable_after_the_pieces_sent(error, retry_after):
    model = gemini(FakeModels(["Good news:"], error))
    pieces = model.phrase_stream("Order A1003 has shipped.", {})
    assert next(pieces) == "Good news:"
    with pytest.raises(Unavailable) as caught:
        next(pieces)
    assert caught.value.retry_after == retry_after


def test_a_streamed_turn_on_gemini_sends_each_token_as_a_delta(make_api):
    class Tokens(RulesModel):
        """Understands by the rules, words through the Gemini adapter on a fake client."""

        def __init__(self) -> None:
            super().__init__()
            self.gemini = gemini(FakeModels(["We ", "take ", "cards."]))

        def phrase_stream(self, draft: str, facts: dict[str, Any]) -> Iterator[str]:
            return self.gemini.phrase_stream(draft, facts)

    _, client, path = make_api(Tokens())
    response, events = stream(client, path)
    received = list(events)
    response.close()
    assert [e.json["text"] for e in received if e.event == "delta"] == ["We ", "take ", "cards."]
    assert received[-1].json["reply"]["text"] == "We take cards."
