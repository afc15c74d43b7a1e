"""The served OpenAPI document is one a client generator can work from: every operation says what it answers
(a schema, or a media type that is not JSON), which errors it may give, and what it is for.

The document is built from the app itself, as /openapi.json serves it (tests/api/test_docs.py covers who may
read it). No validator of OpenAPI documents is installed, so the document's structure is asserted here and
every schema in it is checked against the JSON Schema 2020-12 meta-schema (OpenAPI 3.1's dialect) with
jsonschema_rs, which Schemathesis brings; the examples are validated against the schemas they illustrate.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from resilience.api.main import create_app

METHODS = ("get", "put", "post", "delete", "patch")
ANONYMOUS = {("get", "/healthz"), ("get", "/readyz"), ("post", "/api/v1/session")}  # the key is in the body
CSV_OPERATIONS = {
    ("get", "/api/v1/sensors/{sensor_id}/readings"),
    ("get", "/api/v1/sensors/{sensor_id}/readings/export"),
    ("get", "/api/v1/risk/series"),
    ("get", "/api/v1/anomalies"),
}
CSV_MARKERS = ("wants_csv(", "csv_chunks(", "csv_response(")
PARQUET = "application/vnd.apache.parquet"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = create_app(engine=create_engine("postgresql+psycopg://schema-only.invalid/unused"))
    return app.openapi()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for v in node.values():
            yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_the_document_is_openapi_3_1_with_resolvable_refs(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] and document["info"]["version"]
    assert len(list(operations(document))) >= 55
    for ref in set(refs(document)):
        resolve(document, ref)  # a KeyError names the dangling reference
    ids = [op["operationId"] for _m, _p, op in operations(document)]
    assert len(ids) == len(set(ids)), "operationIds must be unique (a generator names methods by them)"


def test_every_schema_is_valid_json_schema(document: dict[str, Any]) -> None:
    schemas = dict(document["components"]["schemas"])
    for method, path, op in operations(document):
        for code, response in op["responses"].items():
            for media, body in response.get("content", {}).items():
                if "schema" in body:
                    schemas[f"{method} {path} {code} {media}"] = body["schema"]
    bad = [name for name, s in schemas.items() if not jsonschema_rs.meta.is_valid(s)]
    assert not bad


def test_examples_fit_their_schemas(document: dict[str, Any]) -> None:
    components = document["components"]
    checked = 0
    for name, schema in components["schemas"].items():
        examples = schema.get("examples") or []
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": components})
        for example in examples:
            errors = [e.message for e in validator.iter_errors(example)]
            assert not errors, (name, errors)
            checked += 1
    assert checked >= 10  # the main request and reply models carry examples


def test_every_operation_answers_a_schema_or_a_declared_media_type(document: dict[str, Any]) -> None:
    missing = []
    for method, path, op in operations(document):
        success = {c: r for c, r in op["responses"].items() if c.startswith("2")}
        assert success, (method, path)
        for code, response in success.items():
            content = response.get("content")
            if code == "204":
                assert not content, (method, path)  # nothing to read
                continue
            if not content:
                missing.append((method, path, code))
                continue
            json_body = content.get("application/json")
            if json_body is not None and not json_body.get("schema"):
                missing.append((method, path, code, "application/json without a schema"))
    assert not missing


def test_json_replies_are_typed_not_bare_objects(document: dict[str, Any]) -> None:
    """A reply schema a generator cannot type (``{}`` or a bare ``object``) is what ``dict[str, Any]`` gave."""
    untyped = []
    for method, path, op in operations(document):
        for code, response in op["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if code.startswith("2") and schema is not None:
                shape = {k: v for k, v in schema.items() if k not in ("title", "description")}
                if shape in ({}, {"type": "object"}, {"type": "object", "additionalProperties": True}):
                    untyped.append((method, path))
    assert not untyped


def test_every_operation_has_a_description(document: dict[str, Any]) -> None:
    assert [(m, p) for m, p, op in operations(document) if len(op.get("description", "").strip()) < 10] == []


def test_guarded_operations_document_401_403_and_429(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        codes = set(op["responses"])
        if (method, path) in ANONYMOUS - {("post", "/api/v1/session")}:
            assert not codes & {"401", "403"}, (method, path)
            continue
        assert {"401", "403", "429"} <= codes, (method, path)
        for code in ("401", "403", "429"):
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, code)


def test_operations_with_inputs_document_both_shapes_of_422(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        if not (op.get("parameters") or op.get("requestBody")):
            continue
        schema = op["responses"]["422"]["content"]["application/json"]["schema"]
        shapes = {r["$ref"].rsplit("/", 1)[1] for r in schema["anyOf"]}
        assert shapes == {"HTTPValidationError", "Problem"}, (method, path)


def test_raised_errors_are_documented(document: dict[str, Any]) -> None:
    """A route that raises 404, 409 or 400 itself says so (read from its source: the raise is the fact)."""
    app = create_app(engine=create_engine("postgresql+psycopg://schema-only.invalid/unused"))
    undocumented = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        source = inspect.getsource(route.endpoint)
        for code in ("404", "409", "400"):
            if f"HTTPException({code}" in source or f"HTTP_{code}_" in source:
                for method in route.methods or ():
                    if code not in document["paths"][ctx.path_format][method.lower()]["responses"]:
                        undocumented.append((method, ctx.path_format, code))
    assert not undocumented


def test_csv_operations_declare_text_csv(document: dict[str, Any]) -> None:
    app = create_app(engine=create_engine("postgresql+psycopg://schema-only.invalid/unused"))
    answers_csv = set(CSV_OPERATIONS)
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, APIRoute) and any(m in inspect.getsource(route.endpoint) for m in CSV_MARKERS):
            answers_csv |= {(m.lower(), ctx.path_format) for m in route.methods or ()}
    for method, path in answers_csv:
        content = document["paths"][path][method]["responses"]["200"]["content"]
        assert "text/csv" in content, (method, path)
    export = document["paths"]["/api/v1/sensors/{sensor_id}/readings/export"]["get"]["responses"]["200"]
    assert PARQUET in export["content"]


def test_streams_declare_event_stream(document: dict[str, Any]) -> None:
    for path in ("/api/v1/alerts/stream", "/api/v1/console/alerts/stream"):
        assert set(document["paths"][path]["get"]["responses"]["200"]["content"]) == {"text/event-stream"}


def test_documented_401_is_what_an_anonymous_caller_gets(db_engine: Engine) -> None:
    """The document's 401s are the truth: each such operation, called without a credential, answers 401."""
    app: FastAPI = create_app(engine=db_engine)
    client = TestClient(app)
    doc = app.openapi()
    for method, path, op in operations(doc):
        if (method, path) in ANONYMOUS:
            continue
        url = path
        for p in op.get("parameters", []):
            if p["in"] == "path":
                url = url.replace("{" + p["name"] + "}", "1" if p["schema"].get("type") == "integer" else "x1")
        r = client.request(method.upper(), url)
        assert r.status_code == 401, (method, path, r.status_code)
