"""A real HTTP server on a free local port that receives webhooks: it records every request and answers with
the statuses a test scripts (then 200). It runs in a thread, so the code under test talks to it over TCP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    script: list[int] = field(default_factory=list)
    """Statuses to answer, in order; 200 once it is used up."""
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    gate: threading.Event = field(default_factory=threading.Event)
    """Answers wait until it is set (it is, unless a test clears it to hold them)."""

    def answer(self, request: Received) -> int:
        with self.lock:
            self.received.append(request)
            status = self.script.pop(0) if self.script else 200
        self.gate.wait(timeout=60)
        return status

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers["webhook-id"] for r in self.received]


@contextmanager
def receiving(script: list[int] | None = None, path: str = "/hooks") -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = holder[0].answer(Received({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": %s}' % (b"true" if status < 300 else b"false"))

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # a sender POSTs a batch at once; the default backlog (5) refuses most of it

    server = Server(("127.0.0.1", 0), Handler)
    holder.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}", list(script or [])))
    holder[0].gate.set()
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        holder[0].gate.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
