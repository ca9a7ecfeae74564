"""The collector, as a real server on loopback: errors, storage, privacy, concurrency, kill -9."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from collector_proc import Server
from conftest import TEST_KEY, mart, run
from pipelines.tools.simulate.send import post_all

CLIENT = "203.0.113.9"


def keyed(ip: str) -> str:
    """The keyed hash, written out independently of pipelines.privacy."""
    legacy = base64.b64encode(hashlib.sha256(ip.encode()).digest())
    return hmac.new(TEST_KEY.encode(), legacy, hashlib.sha256).hexdigest()


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "log", "--trusted-proxy", "127.0.0.1")
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


def lines(folder: Path) -> list[dict]:
    return [json.loads(l) for p in sorted(folder.glob("*.jsonl")) for l in p.read_text().splitlines() if l]


@pytest.mark.parametrize("body,error", [
    (b"", "empty body"),
    (b"{not json", "body is not JSON"),
    (b"[1, 2]", "body is not a JSON object"),
    (b'{"os": {}}', "instanceId is missing"),
    (b'{"instanceId": 42}', "instanceId is not a string"),
    (b'{"instanceId": "  "}', "instanceId is empty"),
    (json.dumps({"instanceId": "x" * 257}).encode(), "instanceId is longer than 256 characters"),
])
def test_bad_pings_get_400_and_are_not_stored(server, tmp_path, body, error):
    assert server.post(body) == (400, {"status": "error", "error": error})
    assert lines(tmp_path / "log") == []


def test_size_methods_and_paths(server):
    big = json.dumps({"instanceId": "a", "pad": "x" * (64 * 1024)}).encode()
    assert server.post(big)[0] == 413
    assert server.request("GET")[0] == 405
    assert server.request("PUT", body=b"{}")[0] == 405
    assert server.request("POST", "/nope", b'{"instanceId": "a"}')[0] == 404
    assert server.request("GET", "/nope")[0] == 404
    assert server.request("POST", "/", b'{"instanceId": "root"}') == (200, {"status": "success"})


def test_whole_payload_is_stored_with_utc_ms_time_and_keyed_hash_never_the_address(server, tmp_path):
    payload = {"instanceId": "i-1", "env": {"flowforge": "2.24.1"}, "brandNewKey": {"nested": [1, 2]}}
    assert server.post(payload, headers={"X-Forwarded-For": f"{CLIENT}, 127.0.0.1"}) == (200, {"status": "success"})
    assert server.post({"instanceId": "i-2"}) == (200, {"status": "success"})
    stored = lines(tmp_path / "log")
    assert stored[0]["payload"] == payload
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stored[0]["received_at"])
    assert stored[0]["ip_hash"] == keyed(CLIENT)
    assert stored[1]["ip_hash"] == keyed("127.0.0.1")
    assert [p.name for p in (tmp_path / "log").iterdir()] == [f"pings-{stored[0]['received_at'][:10]}.jsonl"]
    server.stop()
    everything = "".join(p.read_text() for p in (tmp_path / "log").iterdir()) + "".join(server.output)
    assert CLIENT not in everything


def test_forwarded_for_is_ignored_from_untrusted_peers(tmp_path):
    srv = Server(tmp_path / "log")
    try:
        assert srv.post({"instanceId": "a"}, headers={"X-Forwarded-For": CLIENT})[0] == 200
    finally:
        srv.stop()
    assert lines(tmp_path / "log")[0]["ip_hash"] == keyed("127.0.0.1")


def test_concurrent_pings_are_all_stored(server, tmp_path):
    payloads = [json.dumps({"instanceId": f"c-{i}"}).encode() for i in range(300)]
    result = post_all(f"http://127.0.0.1:{server.port}/ping", payloads, workers=16)
    assert result["statuses"] == {200: 300}
    assert sorted(l["payload"]["instanceId"] for l in lines(tmp_path / "log")) == sorted(f"c-{i}" for i in range(300))


def test_kill_9_during_a_burst_loses_no_acknowledged_ping(cfg, tmp_path):
    log = tmp_path / "log"
    srv = Server(log, "--quiet")
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def fire(worker: int) -> None:
        n = 0
        while not stop.is_set() and n < 5000:
            n += 1
            iid = f"k-{worker}-{n}"
            try:
                status, _ = srv.post({"instanceId": iid})
            except (OSError, http.client.HTTPException):  # the server died mid-reply: not acknowledged
                return
            if status == 200:
                with lock:
                    acked.append(iid)

    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(fire, w) for w in range(12)]
        time.sleep(1.0)
        refreshed = run(cfg, log)          # the pipeline reads while the collector writes
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(timeout=10)
        stop.set()
        for f in futures:
            f.result()
    assert refreshed.errors == []
    assert len(acked) > 100
    stored = {l["payload"]["instanceId"] for p in log.glob("*.jsonl")
              for l in map(_try_json, p.read_text().splitlines()) if l}
    assert set(acked) <= stored

    # a restart closes a torn tail, if any, and keeps appending
    srv = Server(log, "--quiet")
    assert srv.post({"instanceId": "after-restart"})[0] == 200
    srv.stop()
    result = run(cfg, log)
    assert result.errors == [] and result.pending == 0
    ids = set(mart(cfg, "instances")["instance_id"])
    assert set(acked) | {"after-restart"} <= ids


def _try_json(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None


def test_received_at_is_the_utc_time_of_receipt_to_the_millisecond(server, tmp_path):
    before = datetime.now(timezone.utc)
    assert server.post({"instanceId": "t-1"})[0] == 200
    after = datetime.now(timezone.utc)
    stamp = lines(tmp_path / "log")[0]["received_at"]
    at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert before - timedelta(milliseconds=1) <= at <= after
