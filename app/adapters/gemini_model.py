"""The `Model` port on Gemini in Vertex AI, through the google-genai SDK.

Authentication is Application Default Credentials (the Cloud Run service account) unless a
credentials object is passed. The SDK is imported when the adapter is created, never when this
module or the app is imported, so the default rules model keeps cold starts light. Every
failure to get an answer (quota 429, server 5xx, network, auth) becomes `Unavailable`, which the
HTTP layer answers with 503 and the worker with a retry. The order number is always taken
from the customer's words by a regular expression, never from the model, so a model slip
cannot change which order is looked up. A reply streamed to the customer (`phrase_stream`) is
worded with the SDK's `generate_content_stream`, its pieces passed on as they arrive.

Every call logs its token usage (`event: model.usage`, with `model`, `purpose`,
`input_tokens`, `output_tokens`) under the request's trace, so the observability module's
log-based metric can chart the cost per conversation; the customer's words are never logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from app.adapters.rules_model import (
    REASONS,
    asks_about_itself,
    asks_to_cancel,
    find_order_id,
    language_of,
    names_latest_order,
)
from app.domain.errors import Unavailable
from app.domain.text_matching import words
from app.logs.setup import log_event
from app.ports.model import Intent, Understanding

log = logging.getLogger(__name__)

REASON_CODES = [code for code, _ in REASONS] + ["other"]

UNDERSTAND_INSTRUCTION = (
    "You classify one message a customer wrote to an online store's support chat. "
    "Answer with JSON only. intent is one of: "
    + ", ".join(i.value for i in Intent)
    + ". Use question for general questions about policies (shipping, returns, refunds, "
    "payments, account), order_status when the customer asks where a specific order of theirs "
    "is, return when they want to return something, refund when they ask for their money back, "
    "account_export when they ask for a copy of their data, confirm/deny for yes/no answers, "
    "cancel when they want to stop what they started, greeting for a bare greeting, thanks, "
    "goodbye, small_talk for how are you or who are you, human when they ask to talk to a "
    "person. The message may be in English, German, French or Spanish. reason is why they "
    "want a refund or return, one of: " + ", ".join(REASON_CODES) + ", or none."
)
USAGE_EVENT = "model.usage"

PHRASE_INSTRUCTION = (
    "You are the friendly support assistant of an online store. Rewrite the draft reply in a "
    "warm, concise tone. Keep every fact, number, date, order number and link exactly as given; "
    "add no facts, promises or questions that are not in the draft. Answer with the reply only."
)


def _phrase_prompt(draft: str, facts: dict[str, Any]) -> str:
    return f"Draft reply:\n{draft}\n\nFacts (JSON):\n{json.dumps(facts, default=str)}"


class GeminiModel:
    """Implements `app.ports.model.Model` with `google.genai.Client(vertexai=True)`."""

    name = "gemini"

    def __init__(
        self,
        project: str,
        location: str,
        model: str,
        credentials: Any = None,
        base_url: str | None = None,
        timeout_seconds: float = 20.0,
    ) -> None:
        # Imported here: only MODEL=gemini pays for the SDK.
        import httpx2
        import requests
        from google.auth import exceptions as auth_exceptions
        from google.genai import Client, errors, types

        if not project:
            raise ValueError("GOOGLE_CLOUD_PROJECT: required when MODEL=gemini")
        self._types = types
        self._api_error = errors.APIError
        self._transport_errors = (
            httpx2.HTTPError,
            requests.RequestException,
            auth_exceptions.GoogleAuthError,
            OSError,
        )
        self.model = model
        http_options = types.HttpOptions(timeout=int(timeout_seconds * 1000), base_url=base_url)
        self._client = Client(
            vertexai=True,
            project=project,
            location=location,
            credentials=credentials,
            http_options=http_options,
        )
        self._schema = {
            "type": "object",
            "properties": {
                "intent": {"type": "string", "enum": [i.value for i in Intent]},
                "reason": {"type": "string", "enum": [*REASON_CODES, "none"]},
            },
            "required": ["intent"],
        }

    def understand(self, text: str) -> Understanding:
        config = self._types.GenerateContentConfig(
            system_instruction=UNDERSTAND_INSTRUCTION,
            temperature=0.0,
            response_mime_type="application/json",
            response_json_schema=self._schema,
            max_output_tokens=128,
            thinking_config=self._types.ThinkingConfig(thinking_budget=0),
        )
        answer = self._generate(text, config, "understand")
        try:
            parsed = json.loads(answer)
            intent = Intent(parsed["intent"])
            reason = parsed.get("reason")
            reason = reason if reason in REASON_CODES else None
        except (ValueError, KeyError, TypeError):
            log.warning("model answered malformed JSON; treating the turn as a question")
            intent, reason = Intent.QUESTION, None
        order_id, tokens = find_order_id(text), words(text)
        return Understanding(
            intent=intent,
            order_id=order_id,
            reason=reason,
            language=language_of(tokens),
            cancel_order=order_id is not None and asks_to_cancel(tokens),
            latest_order=order_id is None and names_latest_order(tokens),
            asks_capabilities=intent is Intent.SMALL_TALK and asks_about_itself(tokens),
        )

    def phrase(self, draft: str, facts: dict[str, Any]) -> str:
        worded = self._generate(_phrase_prompt(draft, facts), self._phrase_config(), "phrase")
        return worded.strip() or draft

    def phrase_stream(self, draft: str, facts: dict[str, Any]) -> Iterator[str]:
        """The wording as the model streams it (`generate_content_stream`), piece by piece;
        usage is logged once, from the last piece, which carries the totals."""
        last, started = None, False
        try:
            pieces = self._client.models.generate_content_stream(
                model=self.model,
                contents=_phrase_prompt(draft, facts),
                config=self._phrase_config(),
            )
            for piece in pieces:
                last = piece
                text = piece.text or ""
                if not started:
                    text = text.lstrip()
                if text:
                    started = True
                    yield text
        except (self._api_error, *self._transport_errors) as exc:
            raise self._unavailable(exc) from exc
        if last is not None:
            self._log_usage(last, "phrase")

    def _phrase_config(self) -> Any:
        return self._types.GenerateContentConfig(
            system_instruction=PHRASE_INSTRUCTION,
            temperature=0.2,
            max_output_tokens=512,
            thinking_config=self._types.ThinkingConfig(thinking_budget=0),
        )

    def _generate(self, contents: str, config: Any, purpose: str) -> str:
        try:
            response = self._client.models.generate_content(
                model=self.model, contents=contents, config=config
            )
        except (self._api_error, *self._transport_errors) as exc:
            raise self._unavailable(exc) from exc
        self._log_usage(response, purpose)
        return response.text or ""

    def _unavailable(self, exc: Exception) -> Unavailable:
        """What a failed call becomes: 503 to the client, a retry for the worker."""
        if not isinstance(exc, self._api_error):
            return Unavailable(f"the model is unreachable: {type(exc).__name__}")
        code = getattr(exc, "code", None)
        retry_after = 30 if code == 429 else 5
        if code is not None and 400 <= code < 500 and code not in (408, 429):
            log.error("Gemini refused the request (%s): check model name and IAM", code)
        return Unavailable(f"the model is unavailable (HTTP {code})", retry_after=retry_after)

    def _log_usage(self, response: Any, purpose: str) -> None:
        """The call's tokens, as log fields a log-based metric sums per model."""
        usage = getattr(response, "usage_metadata", None)
        fields = {
            "event": USAGE_EVENT,
            "model": self.model,
            "purpose": purpose,
            "input_tokens": int(getattr(usage, "prompt_token_count", 0) or 0),
            "output_tokens": int(getattr(usage, "candidates_token_count", 0) or 0),
        }
        log_event(
            log,
            logging.INFO,
            f"{purpose}: {fields['input_tokens']} in, {fields['output_tokens']} out",
            fields,
        )
