"""The Gemini adapter against a local stand-in of the Vertex AI endpoint.

The stand-in records what the SDK sends and answers what each test scripts, so the request
shape and the error mapping are tested offline. An explicit credentials object means no
Application Default Credentials lookup happens.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.oauth2.credentials import Credentials

from app.adapters.gemini_model import GeminiModel
from app.domain.errors import Unavailable
from app.ports.model import Intent

PATH = (
    "/v1beta1/projects/demo-project/locations/europe-west1"
    "/publishers/google/models/gemini-test:generateContent"
)


def candidate(text: str) -> dict:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        ]
    }


class StandIn:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.replies: list[tuple[int, dict]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, reply = stand_in.replies.pop(0)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    s = StandIn()
    yield s
    s.close()


@pytest.fixture
def model(stand_in):
    return GeminiModel(
        project="demo-project",
        location="europe-west1",
        model="gemini-test",
        credentials=Credentials(token="test-token"),
        base_url=stand_in.base_url,
        timeout_seconds=5,
    )


def test_understand_sends_a_json_mode_request_and_reads_the_intent(stand_in, model):
    stand_in.replies.append((200, candidate('{"intent": "refund", "reason": "damaged"}')))
    understood = model.understand("I want a refund for A1007, it arrived broken")
    assert (understood.intent, understood.order_id, understood.reason) == (
        Intent.REFUND,
        "A1007",
        "damaged",
    )
    [request] = stand_in.requests
    assert request["path"] == PATH
    assert request["headers"]["Authorization"] == "Bearer test-token"
    body = request["body"]
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "I want a refund for A1007, it arrived broken"}]}
    ]
    assert "support chat" in body["systemInstruction"]["parts"][0]["text"]
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["temperature"] == 0.0
    assert config["responseJsonSchema"]["properties"]["intent"]["enum"] == [i.value for i in Intent]


def test_the_order_number_comes_from_the_text_not_the_model(stand_in, model):
    stand_in.replies.append((200, candidate('{"intent": "order_status", "order_id": "A1999"}')))
    assert model.understand("Where is A1003?").order_id == "A1003"


def test_cancelling_an_order_is_read_from_the_text_whatever_the_intent(stand_in, model):
    stand_in.replies.append((200, candidate('{"intent": "cancel"}')))
    stand_in.replies.append((200, candidate('{"intent": "cancel"}')))
    assert model.understand("please cancel order A1004").cancel_order is True
    assert model.understand("cancel that").cancel_order is False  # no order: the flow


def test_small_talk_about_the_assistant_is_read_from_the_text(stand_in, model):
    stand_in.replies.append((200, candidate('{"intent": "small_talk"}')))
    stand_in.replies.append((200, candidate('{"intent": "small_talk"}')))
    assert model.understand("what can you do?").asks_capabilities is True
    assert model.understand("how are you?").asks_capabilities is False


def test_the_latest_order_is_read_from_the_text(stand_in, model):
    stand_in.replies.append((200, candidate('{"intent": "order_status"}')))
    assert model.understand("where is my last order?").latest_order is True


def test_a_malformed_answer_makes_the_turn_a_question(stand_in, model):
    stand_in.replies.append((200, candidate("refund, I think")))
    understood = model.understand("blah")
    assert (understood.intent, understood.reason) == (Intent.QUESTION, None)
    stand_in.replies.append((200, candidate('{"intent": "fly", "reason": "whim"}')))
    assert model.understand("blah").intent is Intent.QUESTION


def test_phrase_sends_draft_and_facts_and_returns_the_wording(stand_in, model):
    stand_in.replies.append((200, candidate("  Good news: order A1003 is on its way!  ")))
    worded = model.phrase("Order A1003 has shipped.", {"order_id": "A1003"})
    assert worded == "Good news: order A1003 is on its way!"
    text = stand_in.requests[0]["body"]["contents"][0]["parts"][0]["text"]
    assert "Order A1003 has shipped." in text
    assert '"order_id": "A1003"' in text


def test_an_empty_wording_falls_back_to_the_draft(stand_in, model):
    stand_in.replies.append((200, candidate("   ")))
    assert model.phrase("Order A1003 has shipped.", {}) == "Order A1003 has shipped."


@pytest.mark.parametrize(("status", "retry_after"), [(429, 30), (500, 5), (503, 5), (403, 5)])
def test_errors_become_unavailable(stand_in, model, status, retry_after):
    stand_in.replies.append((status, {"error": {"code": status, "message": "nope", "status": "X"}}))
    with pytest.raises(Unavailable) as caught:
        model.understand("hello")
    assert caught.value.retry_after == retry_after
    assert str(status) in caught.value.detail
    assert len(stand_in.requests) == 1  # the adapter does not hammer a failing endpoint


def test_an_unreachable_endpoint_is_unavailable(stand_in):
    url = stand_in.base_url
    stand_in.close()
    model = GeminiModel(
        project="demo-project",
        location="europe-west1",
        model="gemini-test",
        credentials=Credentials(token="test-token"),
        base_url=url,
        timeout_seconds=5,
    )
    with pytest.raises(Unavailable):
        model.understand("hello")


def test_a_project_is_required():
    with pytest.raises(ValueError, match="GOOGLE_CLOUD_PROJECT"):
        GeminiModel(project="", location="europe-west1", model="m", credentials=Credentials("t"))


def test_each_call_logs_its_token_usage_without_the_customers_words(stand_in, model, caplog):
    reply = candidate(json.dumps({"intent": "order_status"}))
    reply["usageMetadata"] = {"promptTokenCount": 57, "candidatesTokenCount": 9}
    stand_in.replies.append((200, reply))
    with caplog.at_level("INFO", logger="app.adapters.gemini_model"):
        model.understand("Where is my order A1017?")
    (record,) = [r for r in caplog.records if getattr(r, "json_fields", {}).get("event")]
    assert record.json_fields == {
        "event": "model.usage",
        "model": "gemini-test",
        "purpose": "understand",
        "input_tokens": 57,
        "output_tokens": 9,
    }
    assert "A1017" not in record.getMessage()


def test_the_new_intents_are_understood(stand_in, model):
    stand_in.replies.append((200, candidate(json.dumps({"intent": "human"}))))
    understood = model.understand("Ich möchte mit einem Menschen sprechen")
    assert (understood.intent, understood.language) == (Intent.HUMAN, "de")
