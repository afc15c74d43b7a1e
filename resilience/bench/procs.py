"""Starting platform processes for benchmarks, and knowing when they are ready."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from resilience.core.settings import PROJECT_ROOT


def spawn_ready(
    args: list[str],
    env: dict[str, str],
    ready: str,
    log_path: Path,
    timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Start ``resilience <args>`` with its output in ``log_path``; return once ``ready`` appears there."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "wb")  # noqa: SIM115 - owned by the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "resilience.cli", *args], env=env, stdout=out, stderr=out, cwd=PROJECT_ROOT
    )
    deadline = time.monotonic() + timeout
    while ready not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{args[0]} did not become ready; {log_path} ends with:\n{tail}")
        time.sleep(0.05)
    return proc
