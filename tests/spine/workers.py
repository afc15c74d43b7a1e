"""Start real platform processes for tests, pointed at the session's test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def worker_env(db_url: str, **extra: str) -> dict[str, str]:
    env = os.environ.copy()
    env["RESILIENCE_DATABASE_URL_OVERRIDE"] = db_url
    env.update(extra)
    return env


def spawn(args: list[str], env: dict[str, str], log_name: str, *, ready: str | None = None,
          timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """Start ``resilience <args>``; with ``ready``, wait until that text appears in its log."""
    log_dir = ROOT / ".local" / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{log_name}-{uuid.uuid4().hex[:6]}.log"
    out = open(path, "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen([sys.executable, "-m", "resilience.cli", *args], env=env, stdout=out, stderr=out, cwd=ROOT)
    if ready:
        deadline = time.monotonic() + timeout
        while ready not in path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} not ready: {path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
    return proc


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def publish(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resilience.bench.publisher", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
