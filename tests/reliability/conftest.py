"""The fault-injection rig: a database of its own for this package, real worker processes, exact counts.

Every fault test sends numbered QoS 1 readings for one sensor of its own, injects its fault, and then
counts: sent (acknowledged by the broker), stored, distinct, handed to detection, scored by detection.
Each test appends its row of the fault matrix to ``.local/test-artifacts/fault-matrix.jsonl``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from resilience.core.settings import Settings
from resilience.store.db import make_engine
from tests.conftest import fresh_database
from tests.registry import register_sensors
from tests.spine.workers import ROOT, spawn, stop_processes, unique, worker_env

MATRIX = ROOT / ".local" / "test-artifacts" / "fault-matrix.jsonl"


@pytest.fixture(scope="package")
def rel_url(services: Settings) -> Iterator[str]:
    """A database for the fault tests alone: their exact counts see no other test's rows."""
    with fresh_database(services, "rel") as url:
        yield url


@pytest.fixture(scope="package")
def rel_engine(rel_url: str) -> Iterator[Engine]:
    engine = make_engine(rel_url)
    yield engine
    engine.dispose()


def wait_for(predicate: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - the database may be down on purpose
            value = None
        if value:
            return value
        time.sleep(every)
    return predicate()


@dataclass
class Rig:
    """Worker processes on the package database, one topic root, and the counts a fault test asserts."""

    url: str
    engine: Engine
    host: str
    port: int
    root: str = field(default_factory=lambda: unique("rel"))
    client_id: str = field(default_factory=lambda: unique("rel-ingest"))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        return worker_env(
            self.url, RESILIENCE_MQTT_TOPIC_ROOT=self.root, RESILIENCE_MQTT_CLIENT_ID=self.client_id, **extra
        )

    def start(self, name: str) -> subprocess.Popen[bytes]:
        ready = {
            "ingest": "subscribed to",
            "detector": "subscribed to",
            "engine": "engine running",
            "dispatcher": "dispatcher running",
            "scheduler": "scheduler running",
        }[name]
        p = spawn([name], self.env(**self.extra_env), f"rel-{name}", ready=ready, timeout=60)
        self.procs[name] = p
        return p

    def kill(self, name: str) -> None:
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)

    def stop_all(self) -> None:
        stop_processes(list(self.procs.values()), timeout=30)
        self.procs.clear()

    def sensor(
        self, prefix: str, kind: str = "water_flow", unit: str = "m**3/h", *, interval_s: float = 1, count: int = 1
    ) -> str:
        """Register ``count`` sensors ``<id>``, ``<id>-2`` ... on one asset; returns the first id."""
        sid = unique(prefix)
        ids = [sid] + [f"{sid}-{i}" for i in range(2, count + 1)]
        with self.engine.begin() as conn:
            register_sensors(
                conn,
                utility="relco",
                asset=f"{sid}-A",
                asset_kind="water_main",
                sensor_kind=kind,
                unit=unit,
                sensor_ids=ids,
                interval_s=interval_s,
            )
        return sid

    def publish(
        self, sensor: str, count: int, *, start: float, step: float = 0.01, rate: float = 0.0
    ) -> subprocess.Popen[str]:
        args = [
            sys.executable,
            "-m",
            "resilience.bench.publisher",
            "--port",
            str(self.port),
            "--host",
            self.host,
            "--root",
            self.root,
            "--utility",
            "relco",
            "--sensors",
            sensor,
            "--count",
            str(count),
            "--pack",
            "1",
            "--start",
            str(start),
            "--step",
            str(step),
        ]
        if rate:
            args += ["--rate", str(rate)]
        return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)

    def stored(self, sensor: str) -> tuple[int, int]:
        with self.engine.connect() as conn:
            n, distinct = conn.execute(
                text("SELECT count(*), count(DISTINCT ts) FROM readings WHERE sensor_id = :s"), {"s": sensor}
            ).one()
        return int(n), int(distinct)

    def handed_and_scored(self) -> tuple[int, int]:
        """Readings in the hand-off log and readings the detector has scored (its cursors' counts)."""
        with self.engine.connect() as conn:
            handed = conn.execute(text("SELECT coalesce(sum(n), 0) FROM reading_batches")).scalar_one()
            scored = conn.execute(
                text("SELECT coalesce(sum(processed), 0) FROM event_cursors WHERE consumer LIKE 'detector/%'")
            ).scalar_one()
        return int(handed), int(scored)


def acked(pub: subprocess.Popen[str], timeout: float = 300) -> int:
    out, _ = pub.communicate(timeout=timeout)
    return int(json.loads(out.splitlines()[-1])["acked"])


def record(row: dict[str, Any]) -> None:
    """One row of the fault matrix (for the issue note); nothing asserts on its timings."""
    MATRIX.parent.mkdir(parents=True, exist_ok=True)
    with MATRIX.open("a") as f:
        f.write(json.dumps(row) + "\n")


@pytest.fixture()
def rig(rel_url: str, rel_engine: Engine, mqtt_broker: tuple[str, int]) -> Iterator[Rig]:
    with rel_engine.begin() as conn:  # a worker an earlier fault test killed is not this test's stall
        conn.execute(text("DELETE FROM worker_heartbeats"))
    r = Rig(rel_url, rel_engine, *mqtt_broker)
    yield r
    r.stop_all()


def log_path() -> Path:
    return ROOT / ".local" / "test-logs"
