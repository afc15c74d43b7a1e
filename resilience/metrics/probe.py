"""A container healthcheck for the workers: ``python -m resilience.metrics.probe PORT`` exits 0 if the
process answers ``GET /metrics`` on that port of the loopback within the timeout, else 1 with the reason.

Standard library only, and nothing of the platform imported, so a probe every few seconds costs a
fraction of a second: the process it checks is alive and serving (whether it keeps up is for ``/readyz``
and the platform watch to judge, not a reason to restart it).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def probe(port: int, *, host: str = "127.0.0.1", timeout_s: float = 3.0) -> str | None:
    """None if ``http://host:port/metrics`` answers 200, else why not."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout_s) as response:  # noqa: S310
            status = int(response.status)
    except (urllib.error.URLError, OSError) as exc:
        return f"metrics on {host}:{port} not reachable: {exc}"
    return None if status == 200 else f"metrics on {host}:{port} answered {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resilience.metrics.probe", description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--timeout-s", type=float, default=3.0)
    args = parser.parse_args(argv)
    problem = probe(args.port, host=args.host, timeout_s=args.timeout_s)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
