"""The errors of the OpenAPI document, documented where they happen, derived rather than listed per route.

After the routes are registered, :func:`install` replaces ``app.openapi`` with a builder that adds to the
document FastAPI makes:

- 401, 403 and 429 on every operation whose dependencies reach :func:`resilience.api.auth.authenticated`
  (``require(...)`` and the role aliases all do): no credential, a role that may not, too many failed keys;
- 400 on every operation with a JSON body: FastAPI's answer to a body that is not JSON at all;
- 422 on every operation that takes parameters or a body, as either FastAPI's validation errors or a
  route's own reason (``{"detail": "start must be before end"}``), which the bare ``HTTPValidationError``
  of FastAPI's default would not admit.

Errors only a route knows it raises (404, 409, 400, 413, 415) are declared on the route with
:func:`errors`, each with the ``Problem`` body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi, validation_error_definition, validation_error_response_definition
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from resilience.api.auth import authenticated
from resilience.api.schemas import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
REASONS = {
    400: "the request is malformed: a body that is not JSON, an unreadable Content-Length",
    401: "no credential, or not a live key or session",
    403: "the caller's role may not do this, or a session cookie came from another site",
    404: "no such row, or one the caller may not see",
    409: "the change conflicts with the stored state",
    413: "the body is over the cap",
    415: "the body's media type is not one this route reads",
    422: "the request does not fit: FastAPI's validation errors (a list) or the route's own reason",
    429: "too many failed keys from this address or for this key: wait Retry-After seconds",
    503: "over capacity, or not ready: try again later",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the errors a route raises itself, each with its reason and the Problem body."""
    return {code: {"model": Problem, "description": REASONS[code]} for code in codes}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def guarded(route: APIRoute | RouteContext) -> bool:
    """The route's dependencies authenticate the caller (directly, or through ``require``)."""
    return any(call is authenticated for call in _calls(route.dependant))


def _problem(code: int) -> dict[str, Any]:
    out: dict[str, Any] = {"description": REASONS[code], "content": {"application/json": {"schema": PROBLEM_REF}}}
    if code == 429:
        out["headers"] = RETRY_AFTER
    return out


def _validation(responses: dict[str, Any]) -> None:
    """422 as either shape a client may get: FastAPI's list of errors, or a route's reason."""
    schema = {"anyOf": [{"$ref": "#/components/schemas/HTTPValidationError"}, PROBLEM_REF]}
    responses["422"] = {"description": REASONS[422], "content": {"application/json": {"schema": schema}}}


def _ensure_components(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
    if "HTTPValidationError" not in components:  # present when any operation takes parameters
        components["ValidationError"] = validation_error_definition
        components["HTTPValidationError"] = validation_error_response_definition


def api_routes(app: FastAPI) -> list[RouteContext]:
    """Every operation of the app as FastAPI documents it (included routers are walked, as get_openapi does)."""
    return [
        c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute) and c.include_in_schema
    ]


def document_errors(schema: dict[str, Any], routes: list[RouteContext]) -> dict[str, Any]:
    """Add the derived errors to each operation of ``schema`` (FastAPI's document of ``routes``)."""
    by_op = {(r.path_format, m.lower()): r for r in routes for m in r.methods or ()}
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            route = by_op.get((path, method))
            if op is None or route is None:
                continue
            responses = op.setdefault("responses", {})
            if guarded(route):
                for code in (401, 403, 429):
                    responses.setdefault(str(code), _problem(code))
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                responses.setdefault("400", _problem(400))
            if op.get("parameters") or op.get("requestBody") or "422" in responses:
                _validation(responses)
    _ensure_components(schema)
    return schema


def install(app: FastAPI) -> None:
    """From now on ``app.openapi()`` answers FastAPI's document with the derived errors (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = document_errors(schema, api_routes(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
