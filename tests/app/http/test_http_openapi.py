"""/openapi.json describes exactly the routes each role serves, and its references resolve."""

from __future__ import annotations

import re

import pytest

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def served_operations(app) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - IGNORED_METHODS:
            operations.add((path, method.lower()))
    return operations


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item}


@pytest.mark.parametrize("role", ["api", "worker"])
def test_routes_and_document_agree_both_ways(role, api_app, worker_app):
    app = {"api": api_app, "worker": worker_app}[role]
    document = app.test_client().get("/openapi.json").get_json()
    served, documented = served_operations(app), documented_operations(document)
    assert served - documented == set(), "routes missing from /openapi.json"
    assert documented - served == set(), "documented operations the app does not serve"


def test_each_role_publishes_only_its_routes(api_app, worker_app):
    api_paths = set(api_app.test_client().get("/openapi.json").get_json()["paths"])
    worker_paths = set(worker_app.test_client().get("/openapi.json").get_json()["paths"])
    assert "/pubsub/inquiries" in worker_paths - api_paths
    assert "/v1/sessions" in api_paths - worker_paths


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


@pytest.mark.parametrize("role", ["api", "worker"])
def test_every_reference_resolves_and_every_path_parameter_is_declared(role, api_app, worker_app):
    app = {"api": api_app, "worker": worker_app}[role]
    document = app.test_client().get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    for ref in set(_refs(document)):
        assert ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas, ref
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{([^}]+)}", path)), (method, path)
            assert "500" in operation["responses"]


def test_request_schemas_match_what_validation_enforces(api_app):
    document = api_app.test_client().get("/openapi.json").get_json()
    search = document["components"]["schemas"]["FaqSearch"]
    assert search["required"] == ["query"]
    assert search["additionalProperties"] is False
    assert search["properties"]["top_k"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 20,
        "default": 5,
    }
    client = api_app.test_client()
    too_many = search["properties"]["top_k"]["maximum"] + 1
    response = client.post("/v1/faq/search", json={"query": "a", "top_k": too_many})
    assert response.status_code == 422
    accepted = client.post("/v1/faq/search", json={"query": "a", "top_k": too_many - 1})
    assert accepted.status_code == 200


def test_inquiry_kinds_are_documented_and_enforced_alike(api, fake_services):
    from app.agents.inquiries import KINDS

    document = api.get("/openapi.json").get_json()
    kind = document["components"]["schemas"]["NewInquiry"]["properties"]["kind"]
    assert kind["enum"] == list(KINDS) == ["refund_review", "account_export"]
    refused = api.post("/v1/inquiries", json={"kind": "data_erasure"})  # not by POST
    assert refused.status_code == 422 and refused.get_json()["field"] == "kind"
    assert fake_services.calls == []
