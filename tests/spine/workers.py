"""Start real platform processes for tests, pointed at the session's test database."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

from resilience.bench.procs import spawn_ready
from resilience.ops.broker_accounts import service_env
from resilience.core.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def service_url(db_url: str) -> str:
    """``db_url`` with the least-privileged login production services use (a member of resilience_service,
    migration 0006) instead of the owner: every process a test spawns runs with only that role's rights."""
    s = get_settings()
    scheme, rest = db_url.split("://", 1)
    return f"{scheme}://{s.db_app_user}:{s.db_app_password}@{rest.split('@', 1)[1]}"


def worker_env(db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a platform process for a test: the services' least-privileged database login, and
    broker accounts as in production. A test that gives its workers a throwaway topic root
    (isolation from other tests) logs them in as the local-only 'bench' account, the one whose ACL reaches
    any root; the ingest account reads only ``settings.mqtt_topic_root`` (tests/spine/test_mqtt_acl.py uses
    the real accounts)."""
    env = os.environ.copy()
    env["RESILIENCE_DATABASE_URL_OVERRIDE"] = service_url(db_url)
    root = extra.get("RESILIENCE_MQTT_TOPIC_ROOT")
    if root and root != get_settings().mqtt_topic_root:
        env.update(service_env(get_settings(), "bench"))
    env.update(extra)
    return env


def spawn(
    args: list[str], env: dict[str, str], log_name: str, *, ready: str, timeout: float = 30.0
) -> subprocess.Popen[bytes]:
    """Start ``resilience <args>`` with a log of its own under .local/test-logs; wait until ``ready`` is logged."""
    path = ROOT / ".local" / "test-logs" / f"{log_name}-{uuid.uuid4().hex[:6]}.log"
    return spawn_ready(args, env, ready, path, timeout=timeout)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """SIGTERM every process, then wait for each (killing one that does not stop in time)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
