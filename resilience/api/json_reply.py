"""Long series replies written straight out with orjson, past the response model's validation.

A day of raw readings is 1,440 rows: validating them against the page model and serialising through
pydantic took three times as long as the query (36 ms against 6.5). The routes still declare their models,
for the document and its clients, and tests check real replies against them
(tests/console/test_openapi_answers.py, the Schemathesis conformance run). orjson writes times as
``datetime.isoformat()`` does ("+00:00"), as the models do, and NaN as null.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response


def json_reply(payload: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")
