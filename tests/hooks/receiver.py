"""A real HTTP receiver for event hooks, in the test's process: a threaded ``http.server``
on 127.0.0.1 that answers Okta's verification challenge and records every POST."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """``failures``: how many POSTs to answer 500 before answering 200."""

    url: str = ""
    failures: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def posts(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.method == "POST"]

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The System Log events of the POSTs answered 2xx... and of failed ones too."""
        found = [e for r in self.posts() for e in r.body["data"]["events"]]
        return [e for e in found if event_type is None or e["eventType"] == event_type]

    def wait_for(
        self, event_type: str, count: int = 1, timeout: float = 20
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(event_type)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} of {event_type} not received; got {self.events()}")


@contextmanager
def receiver(failures: int = 0) -> Iterator[Receiver]:
    state = Receiver(failures=failures)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _record(self, body: Any) -> None:
            with state.lock:
                state.received.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )

        def do_GET(self) -> None:
            self._record(None)
            challenge = self.headers.get("X-Okta-Verification-Challenge", "")
            self._answer(200, {"verification": challenge})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self._record(json.loads(self.rfile.read(length) or b"null"))
            with state.lock:
                fail = state.failures > 0
                state.failures -= 1 if fail else 0
            self._answer(500 if fail else 200, {})

        def _answer(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
