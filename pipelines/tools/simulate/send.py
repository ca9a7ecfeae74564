"""Drive a running collector like a fleet: POST every simulated ping's payload to it."""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit


def post_all(url: str, payloads: list[bytes], workers: int = 8, timeout: float = 10.0) -> dict:
    """POST each payload over keep-alive connections from `workers` threads; return counts and latencies."""
    parts = urlsplit(url)
    path = parts.path or "/ping"
    local = threading.local()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def one(body: bytes) -> None:
        for attempt in range(2):
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
            started = time.perf_counter()
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    local.conn = None
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                local.conn = None
                status = 0
        with lock:
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, payloads))
    elapsed = time.perf_counter() - started
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else None  # noqa: E731
    return {"sent": len(payloads), "statuses": statuses, "seconds": elapsed,
            "per_second": len(payloads) / elapsed if elapsed else None, "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def payloads_of(folder: Path, limit: int | None = None) -> list[bytes]:
    """Return the payloads of the valid lines of a simulated ping log, oldest file first."""
    out: list[bytes] = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                ping = json.loads(line)
            except ValueError:
                continue
            if isinstance(ping, dict) and isinstance(ping.get("payload"), dict):
                out.append(json.dumps(ping["payload"]).encode())
            if limit and len(out) >= limit:
                return out
    return out


def send_log(folder: Path, url: str, workers: int = 8) -> int:
    """Send a simulated ping log to a collector and print what happened.

    Exit 1 when a ping could not be delivered (no answer, or a 5xx); the 400s for the log's
    deliberately malformed pings are the collector doing its job.
    """
    result = post_all(url, payloads_of(folder), workers)
    print(f"sent {result['sent']:,} pings to {url} in {result['seconds']:.1f}s"
          f" ({result['per_second']:.0f}/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms);"
          f" statuses {result['statuses']}", file=sys.stderr)
    return 0 if all(200 <= status < 500 for status in result["statuses"]) else 1
