"""A priority lane beside a consumer's cursor: in a backlog, the most severe events go first.

A consumer reads the event log in order, so a red alert behind 1,000 queued low-level events (a storm of
"sensor silent") waits for all of them. When a consumer is behind by more than a batch, it looks ahead a
bounded window, takes the events at the most severe levels and handles them first, in a transaction of
their own, recording their log numbers (``event_lane_done``) with their effects. The in-order pass later
skips those numbers and deletes them as its cursor passes, so every event is handled exactly once.

Order still holds where it matters: an event is taken early only if no earlier unhandled event in the window
concerns the same subject (its asset, else its scope, sensor or worker). An update that overtook an earlier
one for the same asset could otherwise be undone by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from resilience.store.db import Connection

#: most severe first; the levels a lane takes ahead of the cursor unless the consumer says otherwise
LEVEL_RANK = {"red": 4, "orange": 3, "yellow": 2, "blue": 1}
URGENT_LEVELS = frozenset({"red", "orange"})

_WINDOW = text(
    """
    SELECT e.seq, e.kind, e.payload->>'level' AS level,
           COALESCE(e.payload->>'asset_id', e.payload->>'scope', e.payload->>'sensor_id',
                    e.payload->>'worker', '') AS subject,
           d.seq IS NOT NULL AS done
    FROM events e LEFT JOIN event_lane_done d ON d.consumer = :c AND d.seq = e.seq
    WHERE e.seq > :after ORDER BY e.seq LIMIT :n
    """
)


@dataclass(frozen=True)
class LaneEvent:
    seq: int
    kind: str
    payload: dict[str, Any]


def urgent_ahead(
    conn: Connection,
    consumer: str,
    after: int,
    *,
    lookahead: int,
    kinds: set[str] | None,
    levels: frozenset[str] = URGENT_LEVELS,
) -> list[LaneEvent]:
    """The events at ``levels`` in the ``lookahead`` events after ``after`` that may go first, most severe
    first (then in log order); none of them has an earlier unhandled event about the same subject."""
    rows = conn.execute(_WINDOW, {"c": consumer, "after": after, "n": lookahead}).all()
    seen: set[str] = set()
    take: list[int] = []
    for row in rows:
        if row.done or (kinds is not None and row.kind not in kinds):
            continue
        if row.level in levels and row.subject not in seen:
            take.append(int(row.seq))
        seen.add(row.subject)
    if not take:
        return []
    found = conn.execute(text("SELECT seq, kind, payload FROM events WHERE seq = ANY(:s)"), {"s": take}).all()
    events = [LaneEvent(int(r.seq), r.kind, _as_dict(r.payload)) for r in found]
    return sorted(events, key=lambda e: (-LEVEL_RANK.get(str(e.payload.get("level")), 0), e.seq))


def mark_done(conn: Connection, consumer: str, seqs: Iterable[int]) -> None:
    """Record events handled ahead of the cursor, in the transaction that handled them."""
    rows = [{"c": consumer, "s": s} for s in seqs]
    if rows:
        conn.execute(text("INSERT INTO event_lane_done (consumer, seq) VALUES (:c, :s) ON CONFLICT DO NOTHING"), rows)


def done_in(conn: Connection, consumer: str, seqs: Sequence[int]) -> set[int]:
    """Which of these log numbers the lane has handled already."""
    if not seqs:
        return set()
    found = conn.execute(
        text("SELECT seq FROM event_lane_done WHERE consumer = :c AND seq BETWEEN :lo AND :hi"),
        {"c": consumer, "lo": min(seqs), "hi": max(seqs)},
    )
    return {int(r.seq) for r in found}


def forget_done(conn: Connection, consumer: str, upto: int) -> None:
    """The cursor has passed these: their record is no longer needed."""
    conn.execute(text("DELETE FROM event_lane_done WHERE consumer = :c AND seq <= :s"), {"c": consumer, "s": upto})


def _as_dict(payload: Any) -> dict[str, Any]:
    if isinstance(payload, dict):
        return payload
    import json

    loaded: dict[str, Any] = json.loads(payload)
    return loaded
