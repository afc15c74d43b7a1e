"""What every resource's schemas share: id and number limits, the error body, open replies, timestamps."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
ID_MAX = 64  # the registry's id columns are String(64)
ID = Field(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)
INT4_MAX = 2**31 - 1  # Integer columns
NAME_MAX = 200
RefId = Annotated[str, Field(min_length=1, max_length=ID_MAX)]  # a reference to a registry row
Finite = Annotated[float, Field(allow_inf_nan=False)]  # JSON has no NaN/Infinity to answer with
LevelName = Literal["none", "blue", "yellow", "orange", "red"]  # resilience.core.domain.Level labels
Thresholds = dict[Literal["blue", "yellow", "orange", "red"], Finite]  # a sensor's graded limits, by level
AlertStateName = Literal["firing", "acknowledged", "resolved", "closed"]  # alerts.model.AlertState values

# A time in a reply, written as ``datetime.isoformat()`` writes it ("+00:00", as the routes answered before
# they had models: pydantic alone would write "Z"), and documented as an RFC 3339 date-time.
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
# A time the route has already written as text (``isoformat()``): passed through as it is.
IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Problem(BaseModel):
    """Every 4xx answer: FastAPI's ``{"detail": ...}`` with the reason (a string, or structured details)."""

    detail: Any = Field(examples=["sensor S000002 not found"])


class OpenModel(BaseModel):
    """A reply whose declared fields are the contract, and which may carry more: a row's other columns, a
    detector's evidence. Extra keys pass through unvalidated, so nothing a client reads is dropped."""

    model_config = ConfigDict(extra="allow")


class Page(BaseModel):
    data: list[Any]
    count: int
