"""Request body and header checks that turn bad input into 400, 413, 415 or 422 problems.

A body is declared once as a `BodySpec` of `Field`s; the same declaration validates requests
and produces the JSON Schema published in `/openapi.json`, so the two cannot drift apart.
Every failure names the field and what is allowed, and happens before any service is called,
so bad input never half-writes anything.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from flask import Request, request
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from app.agents import idempotency
from app.domain.errors import InvalidInput

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers
    from werkzeug.local import LocalProxy

# Firestore allows 20 levels of nested maps; stay well below so stored documents always fit.
MAX_NESTING = 8
IDEMPOTENCY_KEY_HEADER = idempotency.HEADER
# A text that holds more than white space (JSON Schema `pattern`: found anywhere in the value).
NOT_BLANK = r"\S"
_JSON_TYPES = {str: "string", int: "integer", dict: "object", bool: "boolean"}


def _http_error(cls: type[HTTPException], detail: str) -> HTTPException:
    error = cls(description=detail)
    error.problem_detail = detail  # type: ignore[attr-defined]
    return error


@dataclass(frozen=True)
class Field:
    """One member of a JSON object body: its type, whether it is required, and its limits."""

    name: str
    type: type
    required: bool = True
    default: Any = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    nullable: bool = False
    description: str = ""
    choices: tuple[str, ...] = ()  # a string field's allowed values (JSON Schema `enum`)
    pattern: str | None = None  # a regular expression found in every allowed string

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        """Compiled once: `check` runs on every request."""
        return re.compile(self.pattern) if self.pattern is not None else None

    def check(self, value: Any) -> Any:
        if value is None and self.nullable:
            return None
        if self.type is int and isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON has one number type: 5.0 is the integer 5 (JSON Schema)
        if not _is_type(value, self.type):
            raise InvalidInput(
                f"{self.name}: must be {_article(self.type)}, got {_json_type_name(value)}",
                field=self.name,
            )
        if self.type is str:
            self._check_text(value)
        elif self.type is int:
            self._check_range(value)
        elif self.type is dict:
            _check_nested(value, self.name, depth=1)
        return value

    def _check_text(self, value: str) -> None:
        _check_encodable(value, self.name)
        if self.choices and value not in self.choices:
            raise InvalidInput(
                f"{self.name}: must be one of {', '.join(self.choices)}", field=self.name
            )
        if self.min_length is not None and len(value) < self.min_length:
            least = f"{self.min_length} character{'s' if self.min_length != 1 else ''}"
            raise InvalidInput(
                f"{self.name}: must be at least {least}, got {len(value)}", field=self.name
            )
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidInput(
                f"{self.name}: must be at most {self.max_length} characters, got {len(value)}",
                field=self.name,
            )
        pattern = self._pattern
        if pattern is not None and not pattern.search(value):
            allowed = "not be blank" if self.pattern == NOT_BLANK else f"match {self.pattern}"
            raise InvalidInput(f"{self.name}: must {allowed}", field=self.name)

    def _check_range(self, value: int) -> None:
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            raise InvalidInput(
                f"{self.name}: must be between {low} and {high}, got {value}", field=self.name
            )

    def schema(self) -> dict[str, Any]:
        """This field as a JSON Schema (OpenAPI 3.1) property."""
        schema: dict[str, Any] = {"type": _JSON_TYPES[self.type]}
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
        limits = {
            "minLength": self.min_length,
            "maxLength": self.max_length,
            "pattern": self.pattern,
            "minimum": self.minimum,
            "maximum": self.maximum,
        }
        schema.update({k: v for k, v in limits.items() if v is not None})
        if self.choices:
            schema["enum"] = [*self.choices, None] if self.nullable else list(self.choices)
        if self.default is not None:
            schema["default"] = self.default
        if self.description:
            schema["description"] = self.description
        return schema


@dataclass(frozen=True)
class BodySpec:
    """A JSON object body; unknown members are refused so that a misspelled one is not lost.

    `open_ended` bodies (written by someone else, like Pub/Sub's envelope) accept extra members.
    """

    name: str
    fields: Sequence[Field]
    open_ended: bool = False

    def parse(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise InvalidInput(
                f"body: must be a JSON object, got {_json_type_name(data)}", field="body"
            )
        allowed = {f.name for f in self.fields}
        for key in data:
            if key not in allowed and not self.open_ended:
                raise InvalidInput(
                    f"{key}: unknown field; allowed: {', '.join(sorted(allowed))}", field=key
                )
        values: dict[str, Any] = {}
        for spec in self.fields:
            if spec.name not in data:
                if spec.required:
                    raise InvalidInput(f"{spec.name}: is required", field=spec.name)
                values[spec.name] = _copy_default(spec.default)
                continue
            values[spec.name] = spec.check(data[spec.name])
        return values

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": self.open_ended,
            "required": [f.name for f in self.fields if f.required],
            "properties": {f.name: f.schema() for f in self.fields},
        }


def _copy_default(default: Any) -> Any:
    return dict(default) if isinstance(default, dict) else default


def _is_type(value: Any, expected: type) -> bool:
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _article(expected: type) -> str:
    name = _JSON_TYPES[expected]
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _check_encodable(text: str, field: str) -> None:
    """JSON can carry lone surrogates (\\ud800) that no store can write as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field}: contains an invalid unicode character", field=field) from None


def _check_nested(value: Any, field: str, depth: int) -> None:
    if depth > MAX_NESTING:
        raise InvalidInput(
            f"{field}: must not nest objects or arrays more than {MAX_NESTING} levels deep",
            field=field,
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_encodable(key, field)
            _check_nested(item, field, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_nested(item, field, depth + 1)
    elif isinstance(value, str):
        _check_encodable(value, field)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every request: json.loads with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def json_body(spec: BodySpec) -> dict[str, Any]:
    """The request's JSON object body checked against `spec`.

    415 unless the content type is JSON; 413 over the size limit (Flask's MAX_CONTENT_LENGTH);
    400 when the bytes are not JSON; 422 when the JSON does not match `spec`.
    """
    # One proxy lookup instead of one per attribute.
    req = cast("LocalProxy[Request]", request)._get_current_object()
    charset = _json_charset(req)
    raw = _body_bytes(req)
    try:
        data = _DECODER.decode(raw.decode(charset))
    except RecursionError:
        raise _http_error(BadRequest, "Body is nested too deeply to be parsed") from None
    except (ValueError, LookupError) as error:
        raise _http_error(BadRequest, f"Body is not valid JSON: {_short(error)}") from None
    return spec.parse(data)


def _body_bytes(req: Request) -> bytes:
    """The body's bytes; 413 over MAX_CONTENT_LENGTH, 400 when it ends before its length.

    With a Content-Length, as nearly every client sends, it is read straight from the WSGI
    input, which PEP 3333 lets an application read up to CONTENT_LENGTH: werkzeug's stream
    wrapping costs more than parsing and checking the JSON on the busiest route. A chunked
    body (no Content-Length) goes through werkzeug, which stops at the limit.
    """
    length = req.content_length
    limit = req.max_content_length
    if length is None:
        raw: bytes = req.get_data(cache=True)
        if limit is not None and len(raw) >= limit:
            # A chunked body stops silently at the limit; reading on raises
            # RequestEntityTooLarge instead of letting a truncated body pass as malformed JSON.
            req.stream.read(1)
        return raw
    if limit is not None and length > limit:
        raise RequestEntityTooLarge()
    environ = req.environ
    raw = environ["wsgi.input"].read(length)
    if len(raw) < length:
        raise _http_error(BadRequest, f"Body ended after {len(raw)} of its {length} bytes")
    environ["wsgi.input"] = io.BytesIO(raw)  # a later reader (get_data, get_json) gets it too
    return raw


def _json_charset(req: Request) -> str:
    """The body's charset; 415 unless the content type is JSON.

    Nearly every client sends exactly `application/json`, which needs no header parsing.
    """
    if req.environ.get("CONTENT_TYPE") == "application/json":
        return "utf-8"
    mimetype = req.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        got = req.content_type or "none"
        raise _http_error(UnsupportedMediaType, f"Content-Type must be application/json, got {got}")
    return req.mimetype_params.get("charset", "utf-8")


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:200]


def idempotency_key(headers: Headers | Mapping[str, str]) -> str | None:
    """The optional Idempotency-Key header (an RFC 8941 string's quotes are accepted), checked
    by the agents' own rule, which /openapi.json publishes too."""
    raw = headers.get(IDEMPOTENCY_KEY_HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    return idempotency.check_key(key)
