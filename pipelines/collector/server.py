"""The ping collector: POST /ping -> one JSON line per ping in data/raw/pinglog/pings-YYYY-MM-DD.jsonl.

Keeps FlowForge's documented promise: only a keyed hash of the sender's address is stored (the
same HMAC the pipeline uses), never the address itself, on disk or in a log line. The whole
payload is kept, unknown keys too. A 200 is sent only after the line is on disk (fsync; many
concurrent pings share one fsync), so a crash can leave at most a torn last line, which the
pipeline leaves pending and the collector closes with a newline when it starts again.
"""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .. import privacy
from .. import settings as settings_mod

MAX_BODY = 64 * 1024
PATHS = {"/", "/ping"}


class Rejected(Exception):
    """A ping that is not stored: carries the HTTP status and the error text."""

    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status, self.error = status, error


def validate(body: bytes) -> dict:
    """Return the ping as a dict, or raise Rejected saying why it is not one."""
    if not body.strip():
        raise Rejected(400, "empty body")
    try:
        ping = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(ping, dict):
        raise Rejected(400, "body is not a JSON object")
    if "instanceId" not in ping or ping["instanceId"] is None:
        raise Rejected(400, "instanceId is missing")
    iid = ping["instanceId"]
    if not isinstance(iid, str):
        raise Rejected(400, "instanceId is not a string")
    if not iid.strip():
        raise Rejected(400, "instanceId is empty")
    if len(iid) > 256:
        raise Rejected(400, "instanceId is longer than 256 characters")
    return ping


def utc_now() -> datetime:
    """Return the current UTC time."""
    return datetime.now(timezone.utc)


def stamp(at: datetime) -> str:
    """Return a UTC time as 2024-07-01T12:00:00.123Z."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class LogWriter(threading.Thread):
    """Appends lines to the day files; one write and one fsync per batch of waiting pings."""

    def __init__(self, folder: Path):
        super().__init__(name="pinglog-writer", daemon=True)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.queue: queue.Queue = queue.Queue()
        self.files: dict[str, int] = {}
        self.stopping = False

    def _fd(self, day: str) -> int:
        """Return the append descriptor of a day's file, closing a torn last line left by a crash."""
        if day not in self.files:
            for old in list(self.files):
                os.close(self.files.pop(old))
            path = self.folder / f"pings-{day}.jsonl"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            size = os.fstat(fd).st_size
            if size:
                with open(path, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        os.write(fd, b"\n")
            self.files[day] = fd
        return self.files[day]

    def submit(self, day: str, line: bytes, timeout: float = 10.0) -> bool:
        """Queue one line and wait until it is on disk; return False when that failed."""
        done = threading.Event()
        result: list[bool] = []
        self.queue.put((day, line, done, result))
        return done.wait(timeout) and bool(result and result[0])

    def run(self) -> None:
        """Drain the queue in batches: write each day's lines, fsync, then release the waiters."""
        while not (self.stopping and self.queue.empty()):
            try:
                batch = [self.queue.get(timeout=0.2)]
            except queue.Empty:
                continue
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            ok = True
            try:
                by_day: dict[str, list[bytes]] = {}
                for day, line, _, _ in batch:
                    by_day.setdefault(day, []).append(line)
                for day, lines in sorted(by_day.items()):
                    fd = self._fd(day)
                    data = b"".join(lines)
                    while data:
                        written = os.write(fd, data)
                        data = data[written:]
                    os.fdatasync(fd)
            except OSError as exc:
                ok = False
                print(f"collect: storage error: {exc}", file=sys.stderr, flush=True)
            for _, _, done, result in batch:
                result.append(ok)
                done.set()
        for fd in self.files.values():
            os.close(fd)


class Collector(ThreadingHTTPServer):
    """The HTTP server: its handler validates, hashes the address and hands lines to the writer."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address, writer: LogWriter, key: bytes, trusted: list[str], quiet: bool = False):
        super().__init__(address, Handler)
        self.writer, self.key, self.quiet = writer, key, quiet
        self.trusted = [ipaddress.ip_network(t, strict=False) for t in trusted]
        self.accepted = 0

    def is_trusted(self, addr: str) -> bool:
        """Return whether an address is one of the configured trusted proxies."""
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)


class Handler(BaseHTTPRequestHandler):
    """One request: POST / or /ping with a JSON object."""

    protocol_version = "HTTP/1.1"
    server: Collector

    def setup(self) -> None:
        """Send replies at once: headers and body go out as two writes, which Nagle would hold ~40 ms."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 - the base class name
        """Never log the peer's address (the base class prints it first on every line)."""

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status >= 400 and status != 405:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        if not self.server.quiet:
            sys.stderr.write(f"{stamp(utc_now())} {self.command} {self.path.split('?')[0][:64]} {status}\n")

    def _error(self, status: int, error: str) -> None:
        self._reply(status, {"status": "error", "error": error})

    def sender(self) -> str:
        """Return the sender's address: the peer, or the X-Forwarded-For client behind trusted proxies."""
        peer = self.client_address[0]
        forwarded = self.headers.get("X-Forwarded-For")
        if not forwarded or not self.server.is_trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):  # the rightmost address not added by a trusted proxy
            if not self.server.is_trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _read_body(self) -> bytes:
        """Read the body (Content-Length or chunked), refusing more than 64 KiB."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise Rejected(413, "body larger than 64 KiB")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise Rejected(400, "bad Content-Length") from None
        if length > MAX_BODY:
            raise Rejected(413, "body larger than 64 KiB")
        return self.rfile.read(length) if length > 0 else b""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] not in PATHS:
            return self._error(404, "not found")
        try:
            ping = validate(self._read_body())
        except Rejected as exc:
            return self._error(exc.status, exc.error)
        at = utc_now()
        line = json.dumps(
            {"received_at": stamp(at), "ip_hash": privacy.ip_key(self.sender(), self.server.key), "payload": ping},
            separators=(",", ":"), ensure_ascii=False,
        ).encode() + b"\n"
        if not self.server.writer.submit(at.strftime("%Y-%m-%d"), line):
            return self._error(503, "could not store the ping; retry later")
        self.server.accepted += 1
        self._reply(200, {"status": "success"})

    def _not_allowed(self) -> None:
        if self.path.split("?")[0] not in PATHS:
            return self._error(404, "not found")
        self.send_response(405)
        body = json.dumps({"status": "error", "error": "method not allowed; POST a JSON ping"}).encode()
        self.send_header("Allow", "POST")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815
    do_HEAD = _not_allowed  # noqa: N815


def serve(host: str, port: int, log_dir: Path, key: bytes, trusted: list[str], quiet: bool = False) -> None:
    """Run the collector until SIGINT/SIGTERM, then finish the queued writes."""
    writer = LogWriter(log_dir)
    writer.start()
    server = Collector((host, port), writer, key, trusted, quiet)
    stop = threading.Event()

    def _shutdown(signum, frame):
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    print(f"collect: listening on http://{host}:{server.server_address[1]}/ping, writing {log_dir}",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        writer.stopping = True
        writer.join(timeout=10)
        print(f"collect: stopped after {server.accepted:,} pings", file=sys.stderr, flush=True)


def cmd_collect(args) -> int:
    """Start the collector from the command line."""
    cfg = settings_mod.load()
    log_dir = Path(args.log_dir) if args.log_dir else cfg.pinglog_dir
    trusted = args.trusted_proxy or cfg.trusted_proxies
    try:
        serve(args.host, args.port, log_dir, privacy.secret_for(cfg), trusted, args.quiet)
    except OSError as exc:
        print(f"collect: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
