"""SMART Backend Services clients for the tests: keys, signed assertions, a JWKS server.

Everything an EHR does to get a token from the intake, built with joserfc, plus
the forgeries a hostile client would try (alg ``none``, HS256 keyed with the
public key) built by hand because no JOSE library will produce them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def ec_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": kid}, private=True)


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)


def public_jwks(*keys: ECKey | RSAKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def assertion(
    key: ECKey | RSAKey,
    client_id: str,
    token_url: str,
    *,
    exp_in: int = 120,
    jti: str | None = None,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
) -> str:
    alg = "ES384" if isinstance(key, ECKey) else "RS384"
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + exp_in,
        "jti": jti or uuid.uuid4().hex,
        **(claims or {}),
    }
    return jwt.encode({"alg": alg, "kid": key.kid, **(header or {})}, body, key, algorithms=[alg])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_assertion(kid: str, client_id: str, token_url: str) -> str:
    """``alg: none``: no signature at all."""
    header = _b64(json.dumps({"alg": "none", "kid": kid}).encode())
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": token_url, "exp": now + 60}
    return f"{header}.{_b64(json.dumps({**claims, 'jti': uuid.uuid4().hex}).encode())}."


def hs256_with_public_key(key: ECKey | RSAKey, client_id: str, token_url: str) -> str:
    """The classic confusion attack: HMAC "signed" with the client's public key as secret."""
    header = _b64(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    secret = json.dumps(key.as_dict(private=False)).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def token_request(
    base_url: str,
    client_assertion: str,
    scope: str,
    *,
    grant_type: str = "client_credentials",
    assertion_type: str = ASSERTION_TYPE,
) -> httpx.Response:
    return httpx.post(
        base_url + "/auth/token",
        data={
            "grant_type": grant_type,
            "client_assertion_type": assertion_type,
            "client_assertion": client_assertion,
            "scope": scope,
        },
        timeout=30,
    )


@dataclass
class JwksServer:
    """A client's ``jwks_uri``: serves ``document`` with ``cache_control``; counts fetches."""

    document: dict[str, Any]
    cache_control: str = "max-age=300"
    status: int = 200
    fetches: int = 0
    url: str = ""
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)


@contextmanager
def jwks_server(document: dict[str, Any]) -> Iterator[JwksServer]:
    state = JwksServer(document)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            body = json.dumps(state.document).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", state.cache_control)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    state._server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def write_clients(path: Path, clients: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(clients))
    return path
