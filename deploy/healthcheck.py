"""Ask the running bot's /healthz; exit 0 when healthy, 1 when not (for systemd units).

Standard library only: it runs from the unit files in this folder, with the bot's settings
in the environment (METRICS_HOST, METRICS_PORT). Without METRICS_PORT there is no status
server to ask, and the check passes with a note.

    python deploy/healthcheck.py               # one look
    python deploy/healthcheck.py --wait 60     # at start-up: until it answers 200, 60 s at most
    python deploy/healthcheck.py --attempts 3  # unhealthy only if 3 looks, 20 s apart, all fail
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request


def look(url: str, timeout: float) -> tuple[bool, str]:
    """One GET of /healthz: (healthy, a line saying why)."""
    # The status server is local: no proxy from the environment applies.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200, f"{response.status} {response.read(2000).decode()}"
    except urllib.error.HTTPError as exc:
        body = exc.read(4000).decode(errors="replace")
        try:
            problems = "; ".join(json.loads(body).get("problems", [])) or body
        except ValueError:
            problems = body
        return False, f"{exc.code} {problems}"
    except (OSError, ValueError) as exc:
        return False, f"no answer: {exc}"


def main(argv: list[str] | None = None) -> int:
    """Entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description="Check headline-bot's /healthz.")
    parser.add_argument("--url", help="default: http://METRICS_HOST:METRICS_PORT/healthz")
    parser.add_argument("--wait", type=float, default=0, help="retry until healthy, seconds")
    parser.add_argument("--attempts", type=int, default=1, help="looks before giving up")
    parser.add_argument("--delay", type=float, default=20, help="seconds between looks")
    parser.add_argument("--timeout", type=float, default=20, help="seconds per request")
    args = parser.parse_args(argv)
    url = args.url
    if url is None:
        port = os.environ.get("METRICS_PORT", "").strip()
        if not port:
            print("METRICS_PORT is not set: no status server to check")
            return 0
        host = os.environ.get("METRICS_HOST", "").strip() or "127.0.0.1"
        if host in ("0.0.0.0", "::"):  # noqa: S104 (listening everywhere: ask locally)
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        url = f"http://{host}:{port}/healthz"
    deadline = time.monotonic() + args.wait
    attempt = 0
    while True:
        attempt += 1
        healthy, why = look(url, args.timeout)
        if healthy:
            return 0
        if attempt >= args.attempts and time.monotonic() >= deadline:
            print(f"headline-bot unhealthy: {why}", file=sys.stderr)
            return 1
        time.sleep(1 if time.monotonic() < deadline else args.delay)


if __name__ == "__main__":
    sys.exit(main())
