"""ASGI middleware: request ids, the body-size limit, access logs and HTTP metrics.

Written as plain ASGI (not ``BaseHTTPMiddleware``) because it sits on the hot
path of every request and must be able to refuse a body before reading it.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.fhir.outcome import PayloadTooLarge
from shared.logs import request_id_var

log = logging.getLogger("neuroscreen.intake.access")

REQUESTS = Counter(
    "neuroscreen_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "neuroscreen_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class _BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    """Assigns a request id, enforces ``max_body_bytes`` and records the request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int,
        unlimited_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.unlimited_paths = frozenset(unlimited_paths)
        """Streamed bulk bodies that enforce their own limits (``$import``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            declared = _content_length(scope)
            if scope["path"] in self.unlimited_paths:
                await self.app(scope, receive, send_with_id)
            elif declared is not None and declared > self.max_body_bytes:
                await _send_too_large(send_with_id, self.max_body_bytes)
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        except _BodyTooLarge:
            await _send_too_large(send_with_id, self.max_body_bytes)
        finally:
            self._record(scope, status_holder["status"], time.perf_counter() - started)
            request_id_var.reset(token)

    def _limited(self, receive: Receive) -> Receive:
        """Counts streamed bytes so a chunked body cannot slip past the limit."""
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        return receive_limited

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"]
        REQUESTS.labels(self.service, method, route, str(status)).inc()
        LATENCY.labels(self.service, method, route).observe(elapsed)
        # The path without its query: query strings may carry identifiers.
        log.info(
            "request",
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            # Accept only a short token; anything else could smuggle data into logs.
            if 0 < len(text) <= 64 and text.replace("-", "").isalnum():
                return text
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Any, limit: int) -> None:
    error = PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
    body = orjson.dumps(error.outcome())
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/fhir+json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
