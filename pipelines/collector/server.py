"""The ping collector: POST /ping -> one JSON line per ping in data/raw/pinglog/pings-YYYY-MM-DD.jsonl.

Runs on uvicorn (ASGI) with a starlette app. Keeps FlowForge's documented promise: only a keyed
hash of the sender's address is stored (the same HMAC the pipeline uses), never the address
itself, on disk or in any output (uvicorn's access and error logs, which print client addresses,
are replaced by a handler that prints only fixed message texts). The whole payload is kept,
unknown keys too. A 200 is sent only after the line is on disk (fdatasync; every ping that waits
while one batch is written shares the next one, and under load a batch gathers for 2 ms), so a
crash can leave at most a torn last line, which the collector closes with a newline when it
starts again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # httptools (C, llhttp) parses requests several times faster than h11; h11 when it is missing
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - depends on what is installed
    HttpToolsProtocol = None

from .. import privacy
from .. import settings as settings_mod

MAX_BODY = 64 * 1024
MAX_DEPTH = 64                 # deepest nesting of objects and arrays a stored payload may have
PATHS = ("/", "/ping")
METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
STORE_TIMEOUT = 10.0           # seconds a ping may wait for its fsync before it gets a 503
WATCH_EVERY = 0.5              # seconds between looks for pings that waited longer than that
GATHER = 0.002                 # seconds a batch waits for more pings while they arrive faster than one per fsync
JSON_HEADERS = {"Content-Type": "application/json"}
STORED = json.dumps({"status": "success"}).encode()    # the body of every 200


class Rejected(Exception):
    """A ping that is not stored: carries the HTTP status and the error text."""

    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status, self.error = status, error


def _no_constant(name: str):
    """Refuse NaN, Infinity and -Infinity, which are not JSON (json.loads accepts them)."""
    raise Rejected(400, f"body is not JSON ({name} is not a JSON value)")


# made once: json.loads and json.dumps with options build a new decoder or encoder on every call
DECODER = json.JSONDecoder(parse_constant=_no_constant)
ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _depth(value, limit: int) -> int:
    """Return the nesting depth of parsed JSON, stopping once it exceeds limit."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def validate(body: bytes) -> dict:
    """Return the ping as a dict, or raise Rejected saying why it is not one."""
    if not body.strip():
        raise Rejected(400, "empty body")
    try:
        # as json.loads(bytes) reads them: UTF-8, -16 or -32 by the first bytes
        ping = DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, UnicodeDecodeError):
        raise Rejected(400, "body is not JSON") from None
    except RecursionError:
        raise Rejected(400, f"body is nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(ping, dict):
        raise Rejected(400, "body is not a JSON object")
    # the depth can only exceed the limit when there are more brackets than the limit (a C-speed count)
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and _depth(ping, MAX_DEPTH) > MAX_DEPTH:
        raise Rejected(400, f"body is nested deeper than {MAX_DEPTH} levels")
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


class Clock:
    """UTC time as the ping log stores it, 2024-07-01T12:00:00.123Z; the text up to the second is made once a second."""

    def __init__(self):
        self.second, self.prefix = -1, ""

    def now(self) -> str:
        """Return the current UTC time as 2024-07-01T12:00:00.123Z."""
        ms = time.time_ns() // 1_000_000
        second, milli = divmod(ms, 1000)
        if second != self.second:
            self.second, self.prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.prefix}.{milli:03d}Z"


def log_line(received_at: str, ip_hash: str, ping: dict) -> bytes:
    """Return the stored line of one ping; Rejected when it cannot be stored as strict UTF-8 JSON."""
    try:
        return ENCODER.encode({"received_at": received_at, "ip_hash": ip_hash, "payload": ping}).encode() + b"\n"
    except UnicodeEncodeError:
        raise Rejected(400, "body has a lone surrogate (\\ud800-\\udfff), which is not Unicode") from None
    except ValueError:
        raise Rejected(400, "body has a number too large for JSON (it overflows to infinity)") from None


def close_torn_tail(path: Path) -> None:
    """Append a newline to a ping-log file whose last line a crash left torn."""
    with open(path, "rb+") as fh:
        if fh.seek(0, os.SEEK_END) and (fh.seek(-1, os.SEEK_END), fh.read(1))[1] != b"\n":
            fh.write(b"\n")
            fh.flush()
            os.fsync(fh.fileno())


class LogWriter(threading.Thread):
    """Appends lines to the day files; one write and one fdatasync per batch of waiting pings."""

    def __init__(self, folder: Path):
        super().__init__(name="pinglog-writer", daemon=True)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.folder.glob("pings-*.jsonl")):
            close_torn_tail(path)
        self.files: dict[str, int] = {}
        self.pending: list[tuple[str, bytes, asyncio.Future]] = []
        self.wake = threading.Condition()
        self.idle = self.stopping = False           # idle: the thread waits for lines (only then is it notified)
        self.waiting: dict[asyncio.AbstractEventLoop, collections.deque] = {}   # (deadline, future), oldest first

    def _fd(self, day: str) -> int:
        """Return the append descriptor of a day's file (at most one file is held open)."""
        if day not in self.files:
            for old in list(self.files):
                os.close(self.files.pop(old))
            path = self.folder / f"pings-{day}.jsonl"
            if path.exists():
                close_torn_tail(path)
            self.files[day] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return self.files[day]

    def submit(self, day: str, line: bytes, timeout: float = STORE_TIMEOUT) -> asyncio.Future:
        """Queue one line; return a future of the event loop: True once it is on disk, False when not in `timeout` s."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self.wake:
            self.pending.append((day, line, fut))
            if self.idle:
                self.wake.notify()
        waiting = self.waiting.get(loop)
        if waiting is None:      # one watchdog per loop answers the futures that waited too long (no timer per ping)
            waiting = self.waiting[loop] = collections.deque()
            loop.call_later(WATCH_EVERY, self._watch, loop, waiting)
        waiting.append((loop.time() + timeout, fut))
        return fut

    def _watch(self, loop: asyncio.AbstractEventLoop, waiting: collections.deque) -> None:
        """Answer False to the futures past their deadline; forget the answered ones; run again while any wait."""
        now = loop.time()
        while waiting and (waiting[0][1].done() or waiting[0][0] <= now):
            _, fut = waiting.popleft()
            if not fut.done():
                fut.set_result(False)
        if waiting:
            loop.call_later(WATCH_EVERY, self._watch, loop, waiting)
        else:
            del self.waiting[loop]

    def stop(self) -> None:
        """Write what is queued, fsync, close the files and end the thread."""
        with self.wake:
            self.stopping = True
            self.wake.notify()
        self.join(timeout=30)

    def _write(self, batch: list) -> bool:
        """Append a batch to its day files and fdatasync each; return whether all of it is on disk."""
        by_day: dict[str, list[bytes]] = {}
        for day, line, _ in batch:
            by_day.setdefault(day, []).append(line)
        try:
            for day, lines in sorted(by_day.items()):
                fd = self._fd(day)
                data = memoryview(b"".join(lines))
                while data:
                    data = data[os.write(fd, data):]
                os.fdatasync(fd)
            return True
        except OSError as exc:
            print(f"collect: storage error: {privacy.scrub(str(exc))}", file=sys.stderr, flush=True)
            return False

    def run(self) -> None:
        """Take every waiting line at once, write and fsync them, then answer their futures.

        Group commit: when the last batch held more than one line (pings arrive faster than one
        fsync), the next waits GATHER seconds for more before it is taken, so that one fsync
        serves many pings; a lone ping is written at once.
        """
        last = 0
        while True:
            with self.wake:
                while not self.pending and not self.stopping:
                    self.idle = True
                    self.wake.wait()
                self.idle = False
            if last > 1 and not self.stopping:
                time.sleep(GATHER)
            with self.wake:
                batch, self.pending = self.pending, []
                last = len(batch)
                if not batch and self.stopping:
                    break
            ok = self._write(batch)
            for loop in {fut.get_loop() for _, _, fut in batch}:
                with contextlib.suppress(RuntimeError):  # a loop already closed has nobody waiting
                    loop.call_soon_threadsafe(_resolve, [f for _, _, f in batch if f.get_loop() is loop], ok)
        for fd in self.files.values():
            os.close(fd)


def _resolve(futures: list[asyncio.Future], ok: bool) -> None:
    """Answer the futures of one written batch (in the event loop's thread)."""
    for fut in futures:
        if not fut.done():
            fut.set_result(ok)


class Collector:
    """What the requests share: the writer, the key, trusted proxies, the request-log switch, a count."""

    def __init__(self, writer: LogWriter, key: bytes, trusted: list[str], quiet: bool):
        self.writer, self.key, self.quiet, self.clock = writer, key, quiet, Clock()
        self.trusted = [ipaddress.ip_network(t, strict=False) for t in trusted]
        self.accepted = 0

    def is_trusted(self, addr: str) -> bool:
        """Return whether an address is one of the configured trusted proxies."""
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def sender(self, peer: str, forwarded: str | None) -> str:
        """Return the sender's address: the peer, or the X-Forwarded-For client behind trusted proxies."""
        if not forwarded or not self.trusted or not self.is_trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):  # the rightmost address not added by a trusted proxy
            if not self.is_trusted(hop):
                return hop
        return hops[0] if hops else peer

    def request_log(self, method: str, path: str, status: int) -> None:
        """Print one request line: time, method, path and status (never the peer; odd values as '-')."""
        if not self.quiet:
            sys.stderr.write(f"{self.clock.now()} {method if method in METHODS else '-'}"
                             f" {path if path in PATHS else '-'} {status}\n")


def reply(status: int, body: dict, close: bool = False, extra: dict | None = None) -> Response:
    """Return a JSON response; `close` ends the connection after it."""
    headers = {**JSON_HEADERS, **(extra or {})}
    if close:
        headers["Connection"] = "close"
    return Response(json.dumps(body).encode(), status, headers=headers)


def error(status: int, text: str, **kw) -> Response:
    """Return the README's error body with a status."""
    return reply(status, {"status": "error", "error": text}, **kw)


async def read_body(request: Request) -> bytes:
    """Read the body, refusing more than 64 KiB (Rejected 413; the connection's deadline covers the wait)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise Rejected(413, "body larger than 64 KiB")
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_BODY:
                raise Rejected(413, "body larger than 64 KiB")
            chunks.append(chunk)
    except ClientDisconnect:
        raise Rejected(400, "the client closed the connection before the body ended") from None
    return b"".join(chunks)


async def store(collector: Collector, request: Request) -> Response:
    """Validate one ping, hash its sender, append it and wait for the fsync; return the reply.

    The body's deadline is the connection's (RequestDeadline); the writer answers False to a
    ping that waited STORE_TIMEOUT seconds for its fsync.
    """
    try:
        ping = validate(await read_body(request))
        received_at = collector.clock.now()
        client = request.scope.get("client")
        forwarded = request.headers.get("x-forwarded-for") if collector.trusted else None
        ip_hash = privacy.ip_key(collector.sender(client[0] if client else "", forwarded), collector.key)
        line = log_line(received_at, ip_hash, ping)
    except Rejected as exc:
        return error(exc.status, exc.error, close=True)
    stored = await collector.writer.submit(received_at[:10], line)
    if not stored:
        return error(503, "could not store the ping; retry later", close=True)
    collector.accepted += 1
    return Response(STORED, 200, headers=JSON_HEADERS)


def make_app(collector: Collector) -> Starlette:
    """Return the starlette app: POST / or /ping stores a ping; anything else gets a JSON 404 or 405."""

    async def ping_endpoint(request: Request) -> Response:
        response = await store(collector, request)
        collector.request_log(request.method, request.scope["path"], response.status_code)
        return response

    async def not_found(request: Request, exc) -> Response:
        collector.request_log(request.method, "", 404)
        return error(404, "not found")

    async def not_allowed(request: Request, exc) -> Response:
        collector.request_log(request.method, request.scope["path"], 405)
        return error(405, "method not allowed; POST a JSON ping", extra={"Allow": "POST"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        asyncio.get_running_loop().set_exception_handler(_loop_error)
        yield

    routes = [Route(path, ping_endpoint, methods=["POST"]) for path in reversed(PATHS)]   # /ping first
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed}, lifespan=lifespan)
    app.router.redirect_slashes = False
    return app


def _loop_error(loop, context: dict) -> None:
    """Report an event-loop error by its kind only (its context holds sockets and transports)."""
    exc = context.get("exception")
    kind = type(exc).__name__ if exc else "error"
    print(f"collect: event loop {kind}: {privacy.scrub(str(context.get('message', ''))[:200])}",
          file=sys.stderr, flush=True)


class FixedTextHandler(logging.Handler):
    """Prints a log record's fixed message text only: never its arguments or traceback, which hold addresses."""

    def emit(self, record: logging.LogRecord) -> None:
        text = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        text = text.strip().splitlines()[0] if text.strip() else "(no text)"
        kind = f" ({record.exc_info[0].__name__})" if record.exc_info and record.exc_info[0] else ""
        try:
            sys.stderr.write(f"collect: {record.levelname.lower()}: {privacy.scrub(text)}{kind}\n")
        except (OSError, ValueError):
            pass


def quiet_server_logs() -> None:
    """Route uvicorn's and asyncio's loggers to FixedTextHandler (warnings and worse), never to the root."""
    handler = FixedTextHandler(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(logging.WARNING)
        log.propagate = False
    logging.getLogger("uvicorn.access").disabled = True


class RequestDeadline:
    """Mixed into a uvicorn HTTP protocol: a request deadline, TCP_NODELAY, and a JSON 400 for malformed HTTP.

    uvicorn times out only idle keep-alive connections, and any byte resets that timer: a client
    that sends its request slowly (or nothing) would hold the connection forever. Here every
    connection must deliver a whole request, head and body, within the read timeout of connecting
    or of its last response, else it gets a 408 and is closed. One timer per connection does it,
    so the app sets none per request.
    """

    read_timeout = 10.0

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # head and body go out as two writes, which Nagle would hold ~40 ms
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._arm_deadline()

    def _arm_deadline(self) -> None:
        """(Re)start the timer by which the next request's head must be complete."""
        old = getattr(self, "_deadline", None)
        if old is not None:
            old.cancel()
        self._deadline = self.loop.call_later(self.read_timeout, self._deadline_passed)

    def _deadline_passed(self) -> None:
        """Close with a 408 when no whole request (head and body) arrived in time; one being served is left alone."""
        cycle = self.cycle
        if self.transport.is_closing() or (cycle is not None and not cycle.response_complete and not cycle.more_body):
            return
        self._raw_reply(408, "the request did not arrive in time")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_deadline()

    def connection_lost(self, exc) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._raw_reply(400, "malformed HTTP request")

    def _raw_reply(self, status: int, text: str) -> None:
        """Write a JSON error straight to the socket and close it (outside any request cycle)."""
        body = json.dumps({"status": "error", "error": text}).encode()
        reason = {400: "Bad Request", 408: "Request Timeout"}[status]
        self.transport.write(f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                             f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
        self.transport.close()


def protocol_class(read_timeout: float) -> type:
    """Return the HTTP protocol class to serve with: httptools when installed, else h11, with the deadline."""
    base = HttpToolsProtocol or H11Protocol
    return type(f"Timed{base.__name__}", (RequestDeadline, base), {"read_timeout": read_timeout})


class GracefulServer(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM or SIGINT it handled is not raised again afterwards."""

    def handle_exit(self, sig, frame) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def listen(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on host:port (IPv6 when host has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def tune_gc() -> None:
    """Freeze the startup heap out of the cyclic garbage collector and collect young objects less often.

    Under load the collector spent about a tenth of its CPU there (py-spy): each ping's parsed dicts set off a
    young collection every few pings, and the older collections walked the startup heap (uvicorn, starlette,
    the stdlib), which never dies. A ping's objects are freed by reference counting, so a young collection
    every 20,000 new objects instead of 700 finds almost nothing more to free.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def serve(host: str, port: int, log_dir: Path, key: bytes, trusted: list[str], quiet: bool = False,
          read_timeout: float = 10.0) -> None:
    """Run the collector until SIGTERM/SIGINT: finish in-flight pings, fsync, close."""
    sock = listen(host, port)
    writer = LogWriter(log_dir)
    writer.start()
    collector = Collector(writer, key, trusted, quiet)
    protocol = protocol_class(read_timeout)
    quiet_server_logs()
    # proxy_headers off: uvicorn would otherwise trust X-Forwarded-For from 127.0.0.1 (ours is the only rule)
    config = uvicorn.Config(make_app(collector), http=protocol, lifespan="on", access_log=False, proxy_headers=False,
                            log_config=None, log_level="warning", server_header=False,
                            timeout_keep_alive=max(1, round(read_timeout)), timeout_graceful_shutdown=read_timeout + 5,
                            backlog=2048)
    shown = f"[{host}]" if ":" in host else host
    tune_gc()
    print(f"collect: listening on http://{shown}:{sock.getsockname()[1]}/ping, writing {log_dir}",
          file=sys.stderr, flush=True)
    try:
        GracefulServer(config).run(sockets=[sock])
    finally:
        sock.close()
        writer.stop()
        print(f"collect: stopped after {collector.accepted:,} pings", file=sys.stderr, flush=True)


def cmd_collect(args) -> int:
    """Start the collector from the command line."""
    cfg = settings_mod.load()
    log_dir = Path(args.log_dir) if args.log_dir else cfg.pinglog_dir
    trusted = args.trusted_proxy or cfg.trusted_proxies
    for proxy in trusted:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            print(f"collect: --trusted-proxy / PINGS_TRUSTED_PROXIES: not an address or network: {proxy!r}",
                  file=sys.stderr)
            return 2
    if not 0 < args.read_timeout <= 3600:
        print(f"collect: --read-timeout must be a number of seconds in (0, 3600], not {args.read_timeout}",
              file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"collect: --port must be 0-65535, not {args.port}", file=sys.stderr)
        return 2
    try:
        key = privacy.secret_for(cfg)
    except privacy.BadKey as exc:
        print(f"collect: {exc}", file=sys.stderr)
        return 2
    try:
        serve(args.host, args.port, log_dir, key, trusted, args.quiet,
              args.read_timeout)
    except OSError as exc:
        print(f"collect: cannot listen on {args.host}:{args.port}: {privacy.scrub(exc.strerror or str(exc))}",
              file=sys.stderr)
        return 1
    return 0
