"""An HTTP proxy in front of the unmodified test EHR that answers some requests 503.

A failed request fails one of two ways, half and half: *before* (503, never forwarded:
nothing stored) or *after* (forwarded, the EHR's answer thrown away, 503: the write is
stored but its acknowledgement lost). The test EHR itself is never changed.

Deterministic, so a test built on it cannot flake: a request's fate is a function of the
seed, the request (method, path, query, body) and how many times in a row that same
request has just failed: never a third time. A retry of the same transaction therefore
gets through by its third try, whatever the timing, and the worst case of a test is
bounded. Token requests carry a fresh assertion each time; they count as one request.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from support.stack import free_port

MAX_FAILURES_IN_A_ROW = 2
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
OUTCOME = json.dumps(
    {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "transient", "diagnostics": "injected by proxy"}],
    }
).encode()


class FaultProxy:
    """Forwards ``http://127.0.0.1:<port>/...`` to ``target`` (the EHR's root URL)."""

    def __init__(self, target: str, *, fail_rate: float, seed: int) -> None:
        self.target = target.rstrip("/")
        self.fail_rate = fail_rate
        self.seed = seed
        self.port = free_port()
        self.stats: Counter[str] = Counter()
        """``forwarded``, ``failed_before``, ``failed_after``, and ``acknowledged_again``:
        transactions the EHR acknowledged that were sent (and acknowledged) once more."""
        self._streaks: Counter[str] = Counter()
        self._acknowledged: set[str] = set()
        self._lock = threading.Lock()
        self._upstream = httpx.Client(timeout=30, trust_env=False)
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()

    def fate(self, method: str, path: str, body: bytes) -> tuple[str, str]:
        """``pass``, ``before`` or ``after`` for this request, and the request's key."""
        if path.startswith("/auth/token"):
            body = b""  # a fresh assertion each time: the same request all the same
        key = hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()
        with self._lock:
            streak = self._streaks[key]
            roll = _uniform(self.seed, key, streak)
            if streak >= MAX_FAILURES_IN_A_ROW or roll >= self.fail_rate:
                self._streaks.pop(key, None)
                return "pass", key
            self._streaks[key] += 1
        return ("before" if roll < self.fail_rate / 2 else "after"), key

    def count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def acknowledged(self, key: str) -> None:
        """A transaction got its 2xx through: sending that very transaction again would
        mean the sender forgot the acknowledgement."""
        with self._lock:
            if key in self._acknowledged:
                self.stats["acknowledged_again"] += 1
            self._acknowledged.add(key)

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes):
        return self._upstream.request(method, self.target + path, headers=headers, content=body)


def _uniform(seed: int, key: str, streak: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}:{streak}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real EHR's front end

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fate, key = proxy.fate(self.command, self.path, body)
            if fate == "before":
                proxy.count("failed_before")
                self._answer(503, {"Content-Type": "application/fhir+json"}, OUTCOME)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            # The EHR builds its token URL from Host: keep the proxy's, as a gateway would.
            headers["Host"] = self.headers.get("Host", f"127.0.0.1:{proxy.port}")
            answer = proxy.forward(self.command, self.path, headers, body)
            if fate == "after":
                proxy.count("failed_after")
                self._answer(503, {"Content-Type": "application/fhir+json"}, OUTCOME)
                return
            proxy.count("forwarded")
            if self.command == "POST" and self.path.rstrip("/") == "/fhir" and answer.is_success:
                proxy.acknowledged(key)
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            kept.pop("content-encoding", None)  # httpx has decoded the body
            self._answer(answer.status_code, kept, answer.content)

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        # http.server dispatches on these names.
        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the stats say what happened

    return Handler
