"""`python -m pipelines collect` as a child process on a free port, with everything it prints kept."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path


class Server:
    """The collector on a free port of `host`; `.output` holds its stderr and stdout lines."""

    def __init__(self, log_dir: Path, *extra: str, host: str = "127.0.0.1"):
        self.host = host
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "collect", "--host", host, "--port", "0", "--log-dir", str(log_dir),
             *extra],
            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ},
        )
        line = self.proc.stderr.readline()
        match = re.search(r"listening on http://(127\.0\.0\.1|\[[0-9a-f:]+\]):(\d+)/ping", line)
        assert match, line + self.proc.stderr.read()
        self.listening_line = line
        self.port = int(match.group(2))
        self.output: list[str] = [line]
        self.readers = [threading.Thread(target=lambda s=s: self.output.extend(s), daemon=True)
                        for s in (self.proc.stderr, self.proc.stdout)]
        for reader in self.readers:
            reader.start()

    def request(self, method: str, path: str = "/ping", body: bytes | None = None, headers=None):
        """Send one request on a new connection; return (status, parsed JSON body or None)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body, headers or {})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        return resp.status, (json.loads(data) if data else None)

    def post(self, payload, **kw):
        """POST a dict (as JSON) or raw bytes to /ping."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", body=body, **kw)

    def stop(self, sig=signal.SIGTERM) -> int:
        """Signal the server, wait for it to exit and for its output; return its exit code."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        for reader in self.readers:
            reader.join(timeout=5)
        return code

    def everything_printed(self) -> str:
        """Return all it printed so far, the listening line (which names the listening address) left out."""
        return "".join(line for line in self.output if line is not self.listening_line)
