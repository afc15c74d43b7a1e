"""HTTP ingestion and the query API against a real PostgreSQL: one parser, every bad-input class dead-lettered."""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience.runtime.scheduler_process import maintain_store
from resilience.core.settings import get_settings
from sqlalchemy import text
from tests.examples import max_examples


def _count(db_engine, sensor: str) -> int:
    with db_engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM readings WHERE sensor_id = :s"), {"s": sensor}).scalar_one()


def _letters(db_engine, reason_like: str) -> list[dict]:
    with db_engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM dead_letters WHERE reason ILIKE :r ORDER BY id"), {"r": f"%{reason_like}%"}
        )
        return [dict(r._mapping) for r in rows]


def test_senml_pack_lands_and_reads_back(api_client, registry, db_engine):
    now = time.time()
    pack = [
        {"bn": "", "bt": now - 120, "bu": "MPa", "n": "P-1", "v": 0.31},
        {"n": "P-1", "t": 60, "v": 0.30},
        {"n": "P-1", "t": 90, "u": "kPa", "v": 295.0},
    ]
    r = api_client.post("/api/v1/ingest", content=json.dumps(pack), headers={"X-Utility-Id": "waterco"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert {k: got[k] for k in ("accepted", "duplicates", "rejected", "errors")} == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": 0,
        "errors": [],
    }
    # SenML's relative times (RFC 8428: t relative to bt) resolved, and the reply says to what
    assert datetime.fromisoformat(got["earliest"]).timestamp() == pytest.approx(now - 120, abs=1e-3)
    assert datetime.fromisoformat(got["latest"]).timestamp() == pytest.approx(now - 30, abs=1e-3)
    r = api_client.get(  # the pack's own span: other modules of the package write P-1 too
        "/api/v1/sensors/P-1/readings",
        params={
            "start": datetime.fromtimestamp(now - 120, UTC).isoformat(),
            "end": datetime.fromtimestamp(now - 29, UTC).isoformat(),
        },
    )
    values = [row["value"] for row in r.json()["data"]]
    assert values == pytest.approx([0.31, 0.30, 0.295])
    # the kPa reading was converted and flagged as converted
    assert [row["quality"] for row in r.json()["data"]] == [0, 0, 1]


def test_plain_json_on_sensor_and_idempotent_replay(api_client, registry, db_engine):
    t0 = int(time.time()) - 30
    body = json.dumps([{"t": t0, "v": 1.5}, {"t": datetime.fromtimestamp(t0 + 10, UTC).isoformat(), "v": 1.7}])
    before = _count(db_engine, "CH4-1")
    replies = []
    for _ in range(2):  # the same payload twice stores each reading once, and the reply says so
        r = api_client.post(
            "/api/v1/ingest", params={"sensor_id": "CH4-1"}, content=body, headers={"X-Utility-Id": "gasco"}
        )
        assert r.status_code == 200, r.text
        replies.append((r.json()["accepted"], r.json()["duplicates"]))
    assert replies == [(2, 0), (0, 2)]
    assert _count(db_engine, "CH4-1") == before + 2


def test_a_repeated_record_in_one_pack_is_counted_once(api_client, registry, db_engine):
    t = time.time() - 40
    pack = [{"n": "P-1", "bt": t, "v": 0.2}, {"n": "P-1", "bt": t, "v": 0.2}]
    before = _count(db_engine, "P-1")
    r = api_client.post("/api/v1/ingest", content=json.dumps(pack), headers={"X-Utility-Id": "waterco"})
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["duplicates"], r.json()["rejected"]) == (1, 1, 0)
    assert _count(db_engine, "P-1") == before + 1


@pytest.mark.parametrize(
    "reading",
    [{"t": 0, "v": 1.0}, {"t": -5, "v": 1.0}, {"t": 100, "v": 1.0}, {"v": 1.0}, {"t": 2**28 - 1, "v": 1.0}],
    ids=["clock-never-set", "negative", "small", "missing", "just-below-2^28"],
)
def test_plain_json_needs_the_devices_own_absolute_time(api_client, registry, db_engine, reading):
    """Plain JSON is epoch seconds or RFC 3339 as the README says: no time, or a small one, is refused with a
    reason instead of being restamped with the time it arrived (SenML's relative times are RFC 8428's)."""
    before = _count(db_engine, "CH4-1")
    r = api_client.post(
        "/api/v1/ingest",
        params={"sensor_id": "CH4-1"},
        content=json.dumps(reading),
        headers={"X-Utility-Id": "gasco"},
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["accepted"] == 0 and detail["rejected"] == 1
    assert "bad time" in detail["errors"][0]["reason"]
    assert _count(db_engine, "CH4-1") == before


@pytest.mark.parametrize(
    "body",
    [
        '{"t": T, "v": NaN}',
        '{"t": T, "v": Infinity}',
        '{"t": T, "v": -Infinity}',
        '{"t": T, "v": 1e400}',
        '[{"n": "P-\\ud800", "bt": T, "v": 0.3}]',
        '[{"n": "P-2", "bt": T, "v": 0.3, "u": "\\udfff"}]',
        '[{"n": "P-2", "bt": T, "v": NaN, "x": "\\ud83d"}]',
    ],
)
def test_a_record_no_reply_can_quote_literally_still_gets_a_4xx_with_its_reason(api_client, registry, body):
    """NaN, Infinity, 1e400 and unpaired surrogates used to crash the error reply itself (500, no reason)."""
    content = body.replace("T", str(int(time.time()) - 7))
    r = api_client.post(
        "/api/v1/ingest", params={"sensor_id": "P-2"}, content=content, headers={"X-Utility-Id": "waterco"}
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["accepted"] == 0 and detail["rejected"] == 1 and detail["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"n": "NOPE-9", "v": 1.0}, "unknown sensor"),
        ({"n": "CH4-1", "v": 1.0}, "another utility"),
        ({"n": "P-2", "v": "NaN-as-text"}, "not a number"),
        ({"n": "P-2", "v": 1.0, "u": "mm"}, "wrong unit"),
        ({"n": "P-2", "v": 0.3, "t": 3600}, "future"),
        ({"n": "P-2", "v": 0.3, "bt": 946684800}, "retention"),
    ],
)
def test_bad_record_dead_lettered_rest_of_pack_lands(api_client, registry, db_engine, record, reason):
    good_t = time.time() - 5 - hash(reason) % 1000
    pack = [{"n": "P-2", "bt": good_t, "v": 0.33}, dict(record)]
    if "bt" not in record and "t" in record:
        pack[1]["t"] = record["t"]  # relative to bt of the first record
    before = _count(db_engine, "P-2")
    r = api_client.post("/api/v1/ingest", content=json.dumps(pack), headers={"X-Utility-Id": "waterco"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1 and r.json()["rejected"] == 1
    assert reason in r.json()["errors"][0]["reason"]
    assert _count(db_engine, "P-2") == before + 1
    letters = _letters(db_engine, reason)
    assert letters and letters[-1]["utility_id"] == "waterco" and letters[-1]["transport"] == "http"
    errors = api_client.get("/api/v1/ingest/errors", headers={"X-Utility-Id": "waterco"}).json()
    assert any(reason in e["reason"] for e in errors)


def test_nan_and_infinity_literals_dead_lettered(api_client, registry, db_engine):
    t = time.time() - 3
    body = f'[{{"n":"P-2","bt":{t},"v":NaN}},{{"n":"P-2","t":1,"v":Infinity}},{{"n":"P-2","t":2,"v":0.4}}]'
    r = api_client.post("/api/v1/ingest", content=body, headers={"X-Utility-Id": "waterco"})
    assert r.status_code == 200
    assert r.json()["accepted"] == 1 and r.json()["rejected"] == 2
    assert all("NaN" in e["reason"] for e in r.json()["errors"])
    assert not math.isnan(api_client.get("/api/v1/sensors/P-2/readings").json()["data"][-1]["value"])


def test_malformed_json_and_oversize_dead_lettered_whole(api_client, registry, db_engine):
    r = api_client.post("/api/v1/ingest", content=b'{"n": "P-1", "v": 0.3', headers={"X-Utility-Id": "waterco"})
    assert r.status_code == 422 and "malformed JSON" in r.text
    assert _letters(db_engine, "malformed JSON")[-1]["payload"] == '{"n": "P-1", "v": 0.3'
    big = json.dumps([{"n": "P-1", "v": 0.3, "t": -i} for i in range(20000)])
    assert len(big) > 256 * 1024
    r = api_client.post("/api/v1/ingest", content=big, headers={"X-Utility-Id": "waterco"})
    assert r.status_code == 413 and "oversize" in r.text  # refused before the body is read past the cap
    assert _letters(db_engine, "oversize")


def test_bucketed_query_and_csv(api_client, registry, db_engine):
    base = (int(time.time() - 3600) // 3600) * 3600  # a complete hour on the hour, likely already rolled up
    pack = [{"bn": "", "bt": base, "n": "T-1", "t": i * 30, "v": float(i)} for i in range(120)]  # one hour at 30 s
    r = api_client.post("/api/v1/ingest", content=json.dumps(pack), headers={"X-Utility-Id": "waterco"})
    assert r.json()["accepted"] == 120
    # Late readings behind the rollup watermark (another test may have run maintenance) are answered from
    # raw readings until the next maintenance run folds them in: the answers below are the same either way.
    body = api_client.get(
        "/api/v1/sensors/T-1/readings",
        params={"start": datetime.fromtimestamp(base, UTC).isoformat(), "bucket": "5m", "agg": "avg"},
    ).json()
    assert body["data"][0]["value"] == pytest.approx(sum(range(10)) / 10)
    maintain_store(db_engine, get_settings())
    start = datetime.fromtimestamp(base, UTC).isoformat()
    end = datetime.fromtimestamp(base + 3600, UTC).isoformat()
    r = api_client.get(
        "/api/v1/sensors/T-1/readings", params={"start": start, "end": end, "bucket": "5m", "agg": "avg"}
    )
    body = r.json()
    assert r.status_code == 200 and body["count"] == 12
    assert body["data"][0]["value"] == pytest.approx(sum(range(10)) / 10)  # first 5 min: readings 0..9
    assert body["data"][0]["n"] == 10
    r = api_client.get(
        "/api/v1/sensors/T-1/readings", params={"start": start, "end": end, "bucket": "1h", "agg": "max"}
    )
    assert r.json()["data"][0]["value"] == 119.0
    r = api_client.get(
        "/api/v1/sensors/T-1/readings",
        params={"start": start, "end": end, "bucket": "1h", "agg": "last"},
        headers={"Accept": "text/csv"},
    )
    assert r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0] == "bucket,value,n" and lines[1].endswith(",119.0,120")
    assert api_client.get("/api/v1/sensors/T-1/readings", params={"bucket": "7m"}).status_code == 422


_HOSTILE_TEXT = st.text(st.characters(categories=["Cs", "Cc", "L", "N", "P"]), max_size=12)
_HOSTILE_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "1" * 50]),  # raw JSON number literals
    _HOSTILE_TEXT,
    st.none(),
    st.booleans(),
)
_RAW = "\x00raw:"  # marks a literal to splice into the JSON text unquoted


@st.composite
def _hostile_body(draw: st.DrawFn) -> str:
    """A pack whose names, units, times and values are drawn from what devices and attackers send."""
    records = []
    for _ in range(draw(st.integers(1, 4))):
        value = draw(_HOSTILE_VALUE)
        if isinstance(value, str) and value in ("1e400", "-1e400", "NaN", "Infinity", "1" * 50):
            value = _RAW + value
        record = {
            "n": draw(st.one_of(st.just("P-2"), _HOSTILE_TEXT)),
            "v": value,
            "bt": draw(st.one_of(st.just(time.time() - 30), st.floats(allow_nan=True), _HOSTILE_TEXT)),
        }
        if draw(st.booleans()):
            record["u"] = draw(st.one_of(st.just("MPa"), _HOSTILE_TEXT))
        records.append(record)
    text = json.dumps(records, ensure_ascii=True, allow_nan=True)  # ensure_ascii: surrogates as \\udxxx escapes
    return re.sub(r'"\\u0000raw:([^"]*)"', r"\1", text)


@settings(
    max_examples=max_examples(60),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_hostile_body())
def test_any_hostile_pack_gets_a_2xx_or_4xx_with_reasons(api_client, registry, body: str) -> None:  # type: ignore[no-untyped-def]
    """NaN, Infinity, 1e400, huge integers, unpaired surrogates and control characters in any field: the
    reply is always 200 or 422, readable JSON, and every rejected record has a reason."""
    r = api_client.post("/api/v1/ingest", content=body, headers={"X-Utility-Id": "waterco"})
    assert r.status_code in (200, 422), (r.status_code, body, r.text)
    reply = r.json() if r.status_code == 200 else r.json()["detail"]
    assert reply["rejected"] == len(reply["errors"]) and all(e["reason"] for e in reply["errors"])
