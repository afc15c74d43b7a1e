"""A container healthcheck: ``python -m resilience.metrics.probe PORT [--path /metrics]`` exits 0 if the
process answers ``GET`` of that path (a worker's metrics; the API's ``/healthz``) on that port of the
loopback with 200 within the timeout, else 1 with the reason.

Standard library only, and nothing of the platform imported, so a probe every few seconds costs a
fraction of a second: the process it checks is alive and serving (whether it keeps up is for ``/readyz``
and the platform watch to judge, not a reason to restart it).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request


def probe(port: int, *, host: str = "127.0.0.1", path: str = "/metrics", timeout_s: float = 3.0) -> str | None:
    """None if ``http://host:port{path}`` answers 200, else why not."""
    url = f"http://{host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - our own fixed http URL
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url} not reachable: {exc}"
    return None if status == 200 else f"{url} answered {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resilience.metrics.probe", description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--path", default="/metrics")
    parser.add_argument("--timeout-s", type=float, default=3.0)
    args = parser.parse_args(argv)
    problem = probe(args.port, host=args.host, path=args.path, timeout_s=args.timeout_s)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
