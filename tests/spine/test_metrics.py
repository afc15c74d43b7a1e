"""The platform reports on itself: every process serves Prometheus metrics that parse (prometheus_client's
own parser, always) and pass ``promtool check metrics`` (where Debian's ``prometheus`` package put promtool),
with the series the platform dashboard reads; the store's view (consumer lag, open alerts, outbox) counts
what the store holds; HTTP latency is labelled by route template; open streams are counted.

The processes are real (``resilience <service> --metrics-port 0``, on this package's database); the store
view and the HTTP labels are checked in-process against the same database.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from resilience.metrics.platform import PlatformCollector
from resilience.core.settings import PROJECT_ROOT, get_settings
from resilience.store.cursors import advance_cursor, ensure_cursor, read_cursor, sequence
from resilience.store.db import make_engine
from tests.auth import make_key
from tests.live_server import live_server
from tests.spine.workers import stop_processes, unique, worker_env

WAIT_S = 90.0  # generous: processes start on a loaded machine
PROMTOOL = shutil.which("promtool")
DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "dashboards" / "platform.json"
SERVICES = ["api", "ingest", "detector", "engine", "scheduler", "dispatcher"]
METRICS_LINE = re.compile(r"metrics on http://127\.0\.0\.1:(\d+)/metrics")


# -- helpers ----------------------------------------------------------------------------------------------
def wait_for(predicate: Callable[[], Any], timeout: float = WAIT_S, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - not up yet
            value = None
        if value:
            return value
        time.sleep(every)
    return predicate()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        return str(r.read().decode())


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample, by name and labels (the parser raises on text Prometheus could not read)."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(exposition):
        assert family.documentation, f"{family.name} has no help text"
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def promtool_problems(exposition: str) -> str:
    """What ``promtool check metrics`` says is wrong ("" if clean)."""
    assert PROMTOOL is not None
    out = subprocess.run([PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=60)
    return "" if out.returncode == 0 else (out.stdout + out.stderr).strip() or f"exit {out.returncode}"


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    metrics_port: int = 0


def _start(name: str, env: dict[str, str], extra: list[str]) -> Process:
    log = PROJECT_ROOT / ".local" / "test-logs" / f"metrics-{name}-{uuid.uuid4().hex[:6]}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "wb")  # noqa: SIM115 - owned by the process
    cmd = [sys.executable, "-m", "resilience.cli", name, "--metrics-port", "0", *extra]
    return Process(name, subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=PROJECT_ROOT), log)


def _bound_port(p: Process) -> int:
    """The port the process logged (``--metrics-port 0``: the kernel's pick)."""
    m = METRICS_LINE.search(p.log.read_text(errors="replace"))
    if m is None:
        assert p.proc.poll() is None, f"{p.name} exited; {p.log} ends with:\n{p.log.read_text()[-2000:]}"
        return 0
    return int(m.group(1))


@pytest.fixture(scope="module")
def platform(db_url: str) -> Iterator[tuple[dict[str, Process], int]]:
    """Every service as its own process on this package's database, each serving metrics; and the API's port."""
    env = worker_env(db_url, RESILIENCE_MQTT_TOPIC_ROOT=unique("met"), RESILIENCE_MQTT_CLIENT_ID=unique("met-ingest"))
    api_port = free_port()
    procs = {name: _start(name, env, ["--port", str(api_port)] if name == "api" else []) for name in SERVICES}
    try:
        for p in procs.values():
            p.metrics_port = wait_for(lambda p=p: _bound_port(p))
            assert p.metrics_port, f"{p.name} never said where its metrics are; see {p.log}"
        yield procs, api_port
    finally:
        stop_processes([p.proc for p in procs.values()], timeout=30)


# -- every process -----------------------------------------------------------------------------------------
def test_every_process_serves_metrics_that_prometheus_reads(
    platform: tuple[dict[str, Process], int], db_engine: Engine
) -> None:
    procs, api_port = platform
    api_url = f"http://127.0.0.1:{api_port}"
    assert wait_for(lambda: _probe(api_port, "/healthz") == 0), "the API never answered /healthz"
    assert httpx.get(f"{api_url}/api/v1/alerts/42", timeout=30).status_code == 401
    assert httpx.get(f"{api_url}/no/such/page", timeout=30).status_code == 404
    key = make_key(db_engine, "viewer")
    with httpx.stream("GET", f"{api_url}/api/v1/alerts/stream", headers={"X-API-Key": key}, timeout=30) as stream:
        assert stream.status_code == 200
        open_now = samples(scrape(procs["api"].metrics_port))
    assert value(open_now, "lifeline_api_open_streams", route="/api/v1/alerts/stream") == 1.0
    seen: set[str] = set()
    for name, p in procs.items():
        found = samples(scrape(p.metrics_port))
        seen |= {n for n, _ in found}
        assert value(found, "lifeline_process_info", process=name, version="0.1.0") == 1.0, name
        assert not any(n.endswith("_created") for n, _ in found), f"{name} serves *_created series"

    api = samples(scrape(procs["api"].metrics_port))
    duration = "lifeline_http_request_duration_seconds_count"
    assert (value(api, duration, route="/api/v1/alerts/{alert_id}", method="GET", status="4xx") or 0) >= 1
    assert (value(api, duration, route="unmatched", method="GET", status="4xx") or 0) >= 1
    assert (value(api, duration, route="/healthz", method="GET", status="2xx") or 0) >= 1
    assert value(api, "lifeline_ingest_readings_total", transport="http") == 0.0  # present before the first
    ingest = samples(scrape(procs["ingest"].metrics_port))
    assert value(ingest, "lifeline_ingest_rejected_total", transport="mqtt", reason="unknown_sensor") == 0.0
    assert any(n == "lifeline_worker_backlog" and ("role", "ingest") in labels for n, labels in ingest)
    detector = samples(scrape(procs["detector"].metrics_port))
    assert any(n == "lifeline_worker_oldest_pending_seconds" and ("role", "detector") in ls for n, ls in detector)
    engine = samples(scrape(procs["engine"].metrics_port))
    assert value(engine, "lifeline_notifications_total", channel="webhook", result="delivered") == 0.0
    assert value(engine, "lifeline_job_runs_total", job="alert-tick", result="error") == 0.0

    # the scheduler reports the store's view: the cursors the detector and the engine made, the heartbeats
    def store_view() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        found = samples(scrape(procs["scheduler"].metrics_port))
        wanted = [
            value(found, "lifeline_consumer_lag", consumer="alerts", log="events"),
            value(found, "lifeline_consumer_lag", consumer="detector/shard-0", log="reading_batches"),
        ]
        beats = {dict(ls).get("role") for n, ls in found if n == "lifeline_heartbeat_age_seconds"}
        return found if None not in wanted and {"ingest", "detector"} <= beats else None

    scheduler = wait_for(store_view)
    assert scheduler is not None, "the scheduler never showed the consumers' lag and the workers' heartbeats"
    assert value(scheduler, "lifeline_store_stats_up") == 1.0
    assert value(scheduler, "lifeline_alerts_open", level="red", hazard="gas_explosion", state="firing") is not None
    seen |= {n for n, _ in scheduler}

    # the platform dashboard reads only series some process serves
    exprs = [t["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for t in panel.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\blifeline_[a-z_]+", e)}
    assert used and used <= seen, f"the platform dashboard reads series no process serves: {sorted(used - seen)}"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian's prometheus package has it)")
def test_promtool_finds_every_process_metrics_clean(platform: tuple[dict[str, Process], int]) -> None:
    """After the test above has made the API, the streams and the store report something."""
    procs, _ = platform
    problems = {name: promtool_problems(scrape(p.metrics_port)) for name, p in procs.items()}
    assert not any(problems.values()), problems


def test_promtool_would_catch_a_bad_exposition() -> None:
    if PROMTOOL is None:
        pytest.skip("promtool not installed (Debian's prometheus package has it)")
    bad = "# HELP lifeline_things_count A counter named like a histogram\n# TYPE lifeline_things_count counter\n"
    assert promtool_problems(bad + "lifeline_things_count 1\n")


def _probe(port: int, path: str = "/metrics") -> int:
    """The compose healthcheck's own command, run as compose runs it."""
    cmd = [sys.executable, "-m", "resilience.metrics.probe", str(port), "--path", path, "--timeout-s", "10"]
    return subprocess.run(cmd, capture_output=True, timeout=60).returncode


def test_the_healthcheck_probe_tells_a_live_process_from_a_dead_port(platform: tuple[dict[str, Process], int]) -> None:
    procs, api_port = platform
    assert _probe(procs["detector"].metrics_port) == 0
    assert wait_for(lambda: _probe(api_port, "/healthz") == 0)
    assert _probe(api_port, "/no/such/page") == 1  # a 404 is not healthy
    assert _probe(free_port()) == 1  # nothing listening


def test_a_taken_metrics_port_is_logged_and_the_process_runs_on(db_url: str) -> None:
    """A port another program holds must not keep a worker from its work: it says so and carries on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        # no lease: this scheduler runs beside the platform fixture's, which holds the scheduler lease
        env = worker_env(db_url, RESILIENCE_LEADER_LEASE_S="0")
        log = PROJECT_ROOT / ".local" / "test-logs" / f"metrics-taken-{uuid.uuid4().hex[:6]}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "resilience.cli", "scheduler", "--metrics-port", str(taken)],
                env=env,
                stdout=out,
                stderr=out,
                cwd=PROJECT_ROOT,
            )
        try:
            assert wait_for(lambda: "scheduler running" in log.read_text(errors="replace")), log.read_text()
            said = log.read_text(errors="replace")
            assert f"metrics not served on 127.0.0.1:{taken}" in said and proc.poll() is None
        finally:
            stop_processes([proc], timeout=30)


# -- the store's view --------------------------------------------------------------------------------------
def _publish(engine: Engine, n: int) -> None:
    from resilience.core.events import PlatformHealthEvent
    from resilience.store.eventlog import PgEventLog

    now = datetime.now(UTC)
    PgEventLog(engine).publish_many(
        [
            PlatformHealthEvent(worker=f"metrics-test-{i}", role="test", status="ok", ts=now, explanation="test")
            for i in range(n)
        ]
    )
    sequence(engine, "events")


def _alert(conn: Any, *, level: int, hazard: str, state: str) -> None:
    conn.execute(
        text(
            "INSERT INTO alerts (fingerprint, rule, hazard, scope, source_type, level, peak_level, state, "
            "first_fired_at, fired_at, level_since, updated_at) VALUES "
            "(:f, 'metrics-test', :h, 'city', 'anomaly', :l, :l, :s, now(), now(), now(), now())"
        ),
        {"f": uuid.uuid4().hex, "h": hazard, "l": level, "s": state},
    )


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _collect(collector: PlatformCollector) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return samples(generate_latest(registry).decode())


def test_the_store_view_counts_lag_open_alerts_and_reuses_one_query(db_engine: Engine) -> None:
    clock = Clock()
    collector = PlatformCollector(db_engine, get_settings(), max_age_s=5.0, clock=clock)
    consumer = unique("metrics-consumer")
    sequence(db_engine, "events")
    with db_engine.begin() as conn:
        ensure_cursor(conn, consumer, at_end_of="events")
    red = {"level": "red", "hazard": "gas_explosion", "state": "firing"}
    before = value(_collect(collector), "lifeline_alerts_open", **red)
    assert before is not None
    _publish(db_engine, 3)
    with db_engine.begin() as conn:
        _alert(conn, level=4, hazard="gas_explosion", state="firing")
        _alert(conn, level=4, hazard="gas_explosion", state="firing")
        _alert(conn, level=4, hazard="gas_explosion", state="resolved")  # not open: not counted
        _alert(conn, level=3, hazard="waterlogging", state="acknowledged")

    cached = _collect(collector)  # within max_age_s: the same answer, no second query
    assert value(cached, "lifeline_alerts_open", **red) == before
    assert value(cached, "lifeline_consumer_lag", consumer=consumer, log="events") == 0.0  # as before publishing

    clock.t += 10
    found = _collect(collector)
    assert value(found, "lifeline_store_stats_up") == 1.0
    assert value(found, "lifeline_alerts_open", **red) == before + 2
    assert (value(found, "lifeline_alerts_open", level="orange", hazard="waterlogging", state="acknowledged") or 0) >= 1
    assert value(found, "lifeline_consumer_lag", consumer=consumer, log="events") == 3.0
    assert (value(found, "lifeline_consumer_lag_seconds", consumer=consumer, log="events") or 0) >= 0.0
    assert value(found, "lifeline_consumer_processed_total", consumer=consumer, log="events") == 0.0
    assert value(found, "lifeline_outbox_pending", channel="webhook") is not None

    with db_engine.begin() as conn:  # the consumer catches up
        (last, _) = read_cursor(conn, consumer)
        head = conn.execute(text("SELECT max(seq) FROM events")).scalar_one()
        advance_cursor(conn, consumer, type(last)(int(head)), processed=3)
    clock.t += 10
    caught_up = _collect(collector)
    assert value(caught_up, "lifeline_consumer_lag", consumer=consumer, log="events") == 0.0
    assert value(caught_up, "lifeline_consumer_lag_seconds", consumer=consumer, log="events") == 0.0
    assert value(caught_up, "lifeline_consumer_processed_total", consumer=consumer, log="events") == 3.0


def test_a_store_that_does_not_answer_is_reported_not_raised() -> None:
    unreachable = make_engine(f"postgresql+psycopg://nobody:nothing@127.0.0.1:{free_port()}/none")
    try:
        found = _collect(PlatformCollector(unreachable, get_settings()))
    finally:
        unreachable.dispose()
    assert value(found, "lifeline_store_stats_up") == 0.0
    assert not any(n.startswith(("lifeline_consumer", "lifeline_alerts_open")) for n, _ in found)


def test_hand_off_cursors_are_read_on_their_shard(db_engine: Engine) -> None:
    from resilience.store import handoff

    with db_engine.begin() as conn:
        ensure_cursor(conn, handoff.consumer_name(0))
    found = _collect(PlatformCollector(db_engine, get_settings()))
    assert value(found, "lifeline_consumer_lag", consumer="detector/shard-0", log="reading_batches") is not None
    assert value(found, "lifeline_consumer_lag", consumer="detector/shard-0", log="events") is None


# -- the API -----------------------------------------------------------------------------------------------
def _count(route: str, method: str, status: str) -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("lifeline_http_request_duration_seconds_count", labels) or 0.0


def test_http_latency_is_labelled_by_route_template_not_by_path(api_client: Any) -> None:
    template = ("/api/v1/sensors/{sensor_id}/readings", "GET", "4xx")
    before = _count(*template), _count("unmatched", "other", "4xx"), _count("/healthz", "GET", "2xx")
    for sid in ("S-1", "S-2", "S-3"):
        api_client.get(f"/api/v1/sensors/{sid}/readings", params={"start": "not a time"})
    api_client.request("BREW", f"/coffee/{uuid.uuid4().hex}")
    api_client.get("/healthz")
    assert _count(*template) == before[0] + 3  # three paths, one series
    assert _count("unmatched", "other", "4xx") == before[1] + 1
    assert _count("/healthz", "GET", "2xx") == before[2] + 1
    paths = {labels.get("route") for m in REGISTRY.collect() for _, labels, *_ in m.samples if "route" in labels}
    assert not any("S-1" in str(p) or "coffee" in str(p) for p in paths), "a raw path became a label"


def test_open_event_streams_are_counted_while_open(db_engine: Engine) -> None:
    from resilience.api.main import create_app

    route = "/api/v1/alerts/stream"

    def open_streams() -> float:
        return REGISTRY.get_sample_value("lifeline_api_open_streams", {"route": route}) or 0.0

    app = create_app(engine=db_engine)
    key = make_key(db_engine, "viewer")
    with live_server(app) as server:
        before = open_streams()
        with httpx.stream(
            "GET", f"{server.url}{route}", headers={"X-API-Key": key}, params={"poll_s": 0.2}, timeout=30
        ) as stream:
            assert stream.status_code == 200
            assert open_streams() == before + 1
            seconds = REGISTRY.get_sample_value(
                "lifeline_http_request_duration_seconds_count", {"route": route, "method": "GET", "status": "2xx"}
            )
            assert seconds is not None and seconds >= 1  # timed to its headers, while it is still open
        assert wait_for(lambda: open_streams() == before, timeout=30)
