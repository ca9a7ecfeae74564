"""The collector under hostile input, on the real server over loopback: no address written, no
dropped connection for a bad body, read timeouts, slow-client floods, HEAD, IPv6, SIGTERM."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from collector_proc import Server
from conftest import query, run
from test_collect import keyed
from pipelines.fields import FIELDS

#: the client side of every raw request binds this loopback address, so any leak of it is unmistakable
PEER = "127.9.8.7"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real_pings"


def raw(port: int, data: bytes, reset: bool = False, timeout: float = 10.0, host: str = "127.0.0.1") -> bytes:
    """Send bytes from PEER and return all the server sent back until it closed (reset: abort at once)."""
    sock = socket.socket()
    sock.bind((PEER, 0))
    sock.settimeout(timeout)
    sock.connect((host, port))
    try:
        sock.sendall(data)
        if reset:  # SO_LINGER 0: close() sends a TCP reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b""
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()


def post(body: bytes, *headers: str) -> bytes:
    """Return a raw HTTP/1.1 POST /ping with a Content-Length and Connection: close."""
    head = ["POST /ping HTTP/1.1", "Host: collector", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def status_of(reply: bytes) -> tuple[int, dict | None]:
    """Return the status and JSON body of a raw reply."""
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), (json.loads(body) if body else None)


def stored(folder: Path) -> list[dict]:
    """Return every stored ping-log line, parsed (a line that is not JSON fails the test)."""
    return [json.loads(line) for p in sorted(folder.glob("*.jsonl")) for line in p.read_text().splitlines()]


DEEP = b'{"instanceId": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
BAD_BODIES = {
    "invalid UTF-8": b'{"instanceId": "a", "os": {"type": "\xff\xfe"}}',
    "lone surrogate": b'{"instanceId": "a", "os": {"release": "\\ud800"}}',
    "lone surrogate in instanceId": b'{"instanceId": "\\udfff"}',
    "nested deeper than the parser": DEEP,
    "nested deeper than 64": b'{"instanceId": "a", "x": ' + b"[" * 65 + b"]" * 65 + b"}",
    "NaN": b'{"instanceId": "a", "n": NaN}',
    "Infinity": b'{"instanceId": "a", "n": -Infinity}',
    "a number overflowing to infinity": b'{"instanceId": "a", "n": 1e400}',
}
BAD_HTTP = {
    "bad chunk size": b"POST /ping HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "garbage request line": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "header without a colon": b"POST /ping HTTP/1.1\r\nHost c\r\n\r\n",
    "non-numeric Content-Length": b"POST /ping HTTP/1.1\r\nHost: c\r\nContent-Length: abc\r\n\r\n{}",
    "non-ASCII path": b"POST /p\xffing HTTP/1.1\r\nHost: c\r\nContent-Length: 2\r\n\r\n{}",
}


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "log")
    yield srv
    if srv.proc.poll() is None:
        srv.stop()


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_every_body_it_will_not_store_gets_a_json_400(server, tmp_path, name):
    status, body = status_of(raw(server.port, post(BAD_BODIES[name])))
    assert status == 400 and body["status"] == "error" and body["error"], body
    assert stored(tmp_path / "log") == []


def test_duplicate_keys_are_stored_with_the_last_value(server, tmp_path):
    assert status_of(raw(server.port, post(b'{"instanceId": "a", "instanceId": "b"}')))[0] == 200
    assert [line["payload"] for line in stored(tmp_path / "log")] == [{"instanceId": "b"}]


def test_bad_requests_never_write_the_peer_address_and_the_server_keeps_serving(tmp_path):
    srv = Server(tmp_path / "log")
    try:
        for name, data in BAD_HTTP.items():
            status, body = status_of(raw(srv.port, data))
            assert status == 400 and body["status"] == "error", name
        for data in BAD_BODIES.values():
            assert status_of(raw(srv.port, post(data)))[0] == 400
        # a reset mid-body, a reset right after a whole ping, a client gone before the reply
        raw(srv.port, post(b'{"instanceId": "cut"}')[:-8], reset=True)
        raw(srv.port, post(b'{"instanceId": "reset"}'), reset=True)
        sock = socket.create_connection(("127.0.0.1", srv.port), source_address=(PEER, 0))
        sock.sendall(post(b'{"instanceId": "gone"}' + b" " * 60000))
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        # a forwarded-for header from an untrusted peer is neither used nor printed
        assert status_of(raw(srv.port, post(b'{"instanceId": "ok"}', f"X-Forwarded-For: {PEER}")))[0] == 200
        time.sleep(0.5)  # let the server notice the resets and broken pipes
        assert srv.post({"instanceId": "still-serving"}) == (200, {"status": "success"})
    finally:
        assert srv.stop() == 0
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "log").iterdir())
    printed = srv.everything_printed()
    for address in (PEER, "127.0.0.1", "::1"):
        assert address not in printed and address not in logs, address
    assert "Traceback" not in printed


def test_head_replies_without_a_body(server):
    reply = raw(server.port, b"HEAD /ping HTTP/1.1\r\nHost: c\r\n\r\nGET /nope HTTP/1.1\r\nHost: c\r\n"
                             b"Connection: close\r\n\r\n")
    first, _, rest = reply.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 405") and b"content-length" in first.lower()
    assert rest.startswith(b"HTTP/1.1 404"), rest[:40]   # the next reply follows the head directly
    assert status_of(rest) == (404, {"status": "error", "error": "not found"})


def test_a_request_that_never_finishes_gets_408_and_a_flood_of_them_does_not_block_pings(tmp_path):
    srv = Server(tmp_path / "log", "--read-timeout", "2")
    try:
        idle = [socket.create_connection(("127.0.0.1", srv.port), source_address=(PEER, 0)) for _ in range(200)]
        for i, sock in enumerate(idle):  # some send nothing, some half a head, some a head and half a body
            sock.sendall([b"", b"POST /ping HTTP/1.1\r\nHost: c\r\n", post(b'{"instanceId": "slow"}')[:-5]][i % 3])
        assert srv.post({"instanceId": "normal"}) == (200, {"status": "success"})
        dripping = socket.create_connection(("127.0.0.1", srv.port), source_address=(PEER, 0))
        dripping.settimeout(10)
        started, reply = time.monotonic(), b""
        for byte in b"POST /ping HTTP/1.1\r\nHost: collector\r\n":   # one byte per 0.2 s never finishes in 2 s
            try:
                dripping.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
        while chunk := dripping.recv(4096):
            reply += chunk
        assert status_of(reply)[0] == 408 and time.monotonic() - started < 9
        replies = []
        for sock in idle:
            sock.settimeout(10)
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            replies.append(status_of(data)[0])
            sock.close()
        assert set(replies) == {408}
        assert srv.post({"instanceId": "after-the-flood"})[0] == 200
    finally:
        assert srv.stop() == 0
    assert sorted(line["payload"]["instanceId"] for line in stored(tmp_path / "log")) == ["after-the-flood", "normal"]


def _has_ipv6_loopback() -> bool:
    """Return whether ::1 can be bound here."""
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_listens_on_ipv6(tmp_path):
    srv = Server(tmp_path / "log", host="::")
    try:
        conn = http.client.HTTPConnection("::1", srv.port, timeout=10)
        conn.request("POST", "/ping", b'{"instanceId": "v6"}')
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        assert srv.stop() == 0
    assert "::1" not in srv.everything_printed()
    assert [line["ip_hash"] for line in stored(tmp_path / "log")] == [keyed("::1")]


def test_sigterm_during_a_burst_finishes_in_flight_pings_and_exits_0(tmp_path):
    srv = Server(tmp_path / "log", "--quiet")
    acked: list[str] = []
    lock = threading.Lock()

    def fire(worker: int) -> None:
        for n in range(100_000):
            try:
                status, _ = srv.post({"instanceId": f"t-{worker}-{n}"})
            except (OSError, http.client.HTTPException):  # refused once it stopped listening
                return
            if status == 200:
                with lock:
                    acked.append(f"t-{worker}-{n}")

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(fire, w) for w in range(8)]
        time.sleep(1.0)
        assert srv.stop() == 0
        for f in futures:
            f.result()
    assert len(acked) > 50
    lines = stored(tmp_path / "log")          # every line whole: nothing torn by the stop
    assert set(acked) <= {line["payload"]["instanceId"] for line in lines}
    assert any("stopped after" in line for line in srv.output)


def test_a_torn_last_line_is_closed_at_startup(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    old = log / "pings-2024-07-01.jsonl"
    old.write_text('{"received_at": "2024-07-01T00:00:00.000Z", "payload": {"instanceId": "a"}}\n{"recei')
    srv = Server(log)
    srv.stop()
    assert old.read_text().endswith('{"recei\n')


def expected_fields(ping: dict) -> dict:
    """Return each landed field's value as text, walked out of the payload in plain Python."""
    out = {}
    for name in FIELDS:
        value = ping
        for key in name.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        out[name] = None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
    return out


def test_real_flowfuse_pings_are_stored_and_land_exactly(server, tmp_path, cfg):
    pings = [json.loads((FIXTURES / "flowfuse-2.4.0.json").read_text()),
             *json.loads((FIXTURES / "flowfuse-2.4.0-sequence.json").read_text())]
    for ping in pings:
        body = json.dumps(ping, indent=4).encode()          # as FlowFuse sends it: pretty-printed
        assert server.post(body, headers={"Content-Type": "application/json"}) == (200, {"status": "success"})
        time.sleep(0.01)                                    # distinct milliseconds: distinct ping identities
    assert [line["payload"] for line in stored(tmp_path / "log")] == pings
    result = run(cfg, tmp_path / "log")
    assert result.errors == [] and result.pending == 0
    cols = ", ".join(f'"{name}"' for name in FIELDS)
    rows = query(cfg, f"select instance_id, {cols} from raw_pings order by received_at")
    assert len(rows) == len(pings)
    for row, ping in zip(rows, pings):
        assert row[0] == ping["instanceId"]
        assert dict(zip(FIELDS, row[1:])) == expected_fields(ping)


@pytest.mark.parametrize("args,names", [
    (["--trusted-proxy", "not-an-address"], "--trusted-proxy"),
    (["--read-timeout", "0"], "--read-timeout"),
    (["--port", "70000"], "--port"),
])
def test_bad_collect_options_get_one_line_and_exit_2(tmp_path, args, names):
    proc = subprocess.run([sys.executable, "-m", "pipelines", "collect", "--log-dir", str(tmp_path / "log"), *args],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and names in proc.stderr


def test_a_ping_whose_fsync_never_comes_is_answered_false_after_its_timeout(tmp_path):
    """A writer whose thread is never started stands for a disk that hangs: the watchdog answers False."""
    from pipelines.collector.server import LogWriter

    async def wait_for_one() -> tuple[bool, float]:
        writer, started = LogWriter(tmp_path / "log"), time.monotonic()
        stored = await writer.submit("2026-01-01", b'{"a":1}\n', timeout=0.3)
        return stored, time.monotonic() - started

    stored, waited = asyncio.run(wait_for_one())
    assert stored is False and 0.3 <= waited < 3
    assert list((tmp_path / "log").iterdir()) == []
