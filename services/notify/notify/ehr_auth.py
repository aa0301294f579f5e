"""How notify signs in to the EHR: one ``httpx.Auth`` per ``NEUROSCREEN_EHR_AUTH`` mode.

- ``static``: the ``NEUROSCREEN_EHR_TOKEN`` bearer token, as given.
- ``private-key-jwt``: SMART Backend Services (``client-confidential-asymmetric``): a
  signed RFC 7523 assertion (:mod:`notify.signing_keys`) is exchanged for an access
  token with the ``client_credentials`` grant.
- ``client-secret-basic``: the same grant with HTTP Basic client credentials
  (Oracle Health system accounts; SMART ``client-confidential-symmetric``).
- ``none``: no ``Authorization`` header.

Tokens are cached per process until shortly before ``expires_in`` runs out, behind a
lock so that threads share one fetch. Celery's prefork children each build their own
client after the fork (``notify.tasks.ehr_client`` is created lazily), and a cache
carried across a fork is dropped. A FHIR 401 discards the token and retries once with a
new one.

Token endpoint failures are sorted like FHIR failures (RFC 6749 section 5.2): a 4xx
(``invalid_client``, ``invalid_scope``, ``unauthorized_client``...) is
:class:`~notify.ehr_client.EhrAuthFailed`, fatal and alarmed; timeouts, connection
errors, 408, 429 and 5xx are :class:`~notify.ehr_client.TransientEhrError`. Tokens,
assertions and secrets are never logged or put in an error message.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from base64 import b64encode
from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import httpx

from notify.ehr_client import TRANSIENT_STATUSES, EhrAuthFailed, TransientEhrError
from notify.ehr_client import _retry_after as retry_after
from notify.ehr_origin import same_origin
from notify.signing_keys import KeyRing, load_key_ring
from shared.config import Settings

log = logging.getLogger("neuroscreen.notify")

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OAUTH_ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}")  # RFC 6749 5.2


class ClientCredentials(Protocol):
    """How a token request proves who NeuroScreen is: form fields and headers to add."""

    def sign_in(self, token_url: str) -> tuple[dict[str, str], dict[str, str]]: ...


@dataclass(frozen=True)
class PrivateKeyJwt:
    keys: KeyRing
    client_id: str

    def sign_in(self, token_url: str) -> tuple[dict[str, str], dict[str, str]]:
        assertion = self.keys.client_assertion(self.client_id, token_url)
        form = {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}
        return form, {}

    def __repr__(self) -> str:
        return f"PrivateKeyJwt(client_id={self.client_id!r})"


@dataclass(frozen=True)
class ClientSecretBasic:
    client_id: str
    secret: str

    def sign_in(self, token_url: str) -> tuple[dict[str, str], dict[str, str]]:
        # RFC 6749 2.3.1: both parts are form-urlencoded before the Basic encoding.
        pair = f"{quote(self.client_id, safe='')}:{quote(self.secret, safe='')}"
        return {}, {"Authorization": f"Basic {b64encode(pair.encode()).decode()}"}

    def __repr__(self) -> str:
        return f"ClientSecretBasic(client_id={self.client_id!r})"


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float
    """``time.monotonic()`` after which a new token is fetched."""


def refresh_margin(expires_in: float) -> float:
    """Fetch a new token this long before the old one expires: a fifth, at most a minute."""
    return min(60.0, expires_in / 5)


class TokenSource:
    """Access tokens from the EHR's token endpoint, cached until shortly before they expire."""

    def __init__(
        self,
        fhir_base_url: str,
        credentials: ClientCredentials,
        *,
        scopes: str,
        token_url: str = "",
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._fhir_base_url = fhir_base_url.rstrip("/")
        self._credentials = credentials
        self._scopes = scopes
        self._token_url = token_url
        self._timeout = timeout
        self._transport = transport
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._warned_scopes: str | None = None
        self._pid = -1
        self._http: httpx.Client | None = None

    def token(self) -> str:
        """A valid access token: the cached one, or a new one (one fetch for all threads)."""
        with self._lock:
            self._forget_after_fork()
            if self._token is None or time.monotonic() >= self._token.refresh_at:
                self._token = self._fetch()
            return self._token.value

    def discard(self, rejected: str) -> None:
        """The EHR refused ``rejected``; forget it unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value == rejected:
                self._token = None

    def close(self) -> None:
        with self._lock:
            if self._http is not None and self._pid == os.getpid():
                self._http.close()
            self._http, self._pid, self._token = None, -1, None

    def _forget_after_fork(self) -> None:
        if self._pid != os.getpid():
            # Never share a token or a connection pool with the parent process. The
            # parent's pool is dropped, not closed: closing would end its TLS sessions.
            self._pid, self._token = os.getpid(), None
            self._http = httpx.Client(timeout=self._timeout, transport=self._transport)

    def _fetch(self) -> _Token:
        token_url = self._token_url or self._discover_token_url()
        form, headers = self._credentials.sign_in(token_url)
        form = {"grant_type": "client_credentials", "scope": self._scopes, **form}
        started = time.monotonic()
        response = self._request("POST", token_url, data=form, headers=headers)
        if not response.is_success:
            code = _oauth_error(response)
            raise EhrAuthFailed(
                f"EHR token endpoint refused NeuroScreen: {response.status_code} ({code})",
                status=response.status_code,
                error_code=code,
            )
        body = _json_object(response)
        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise TransientEhrError("EHR token endpoint answered without an access_token")
        if str(body.get("token_type", "")).lower() != "bearer":
            raise EhrAuthFailed("EHR token endpoint issued a token that is not a bearer token")
        self._note_granted_scopes(body.get("scope"))
        expires_in = body.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            expires_in = 0  # unknown lifetime: use the token for this request only
        lifetime = max(0.0, float(expires_in))
        log.info("EHR access token obtained", extra={"expires_in_s": lifetime})
        return _Token(access_token, started + lifetime - refresh_margin(lifetime))

    def _discover_token_url(self) -> str:
        url = f"{self._fhir_base_url}/.well-known/smart-configuration"
        response = self._request("GET", url)
        endpoint = _json_object(response).get("token_endpoint") if response.is_success else None
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise EhrAuthFailed(
                f"EHR publishes no token_endpoint at {url} ({response.status_code}); "
                "set NEUROSCREEN_EHR_TOKEN_URL",
                status=response.status_code,
            )
        if not same_origin(endpoint, self._fhir_base_url):
            # The assertion or the client secret would go to a host the EHR's discovery
            # document chose: only an operator may choose another origin (issue 18, item 10).
            raise EhrAuthFailed(
                f"EHR discovery names a token_endpoint on another origin than {url}: not used; "
                "set NEUROSCREEN_EHR_TOKEN_URL to use it",
                status=response.status_code,
            )
        self._token_url = endpoint
        return endpoint

    def _request(
        self,
        method: str,
        url: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        assert self._http is not None
        try:
            response = self._http.request(
                method, url, data=data, headers={"Accept": "application/json", **(headers or {})}
            )
        except httpx.TimeoutException as error:
            raise TransientEhrError(f"EHR auth timed out ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise TransientEhrError(f"EHR auth unreachable ({type(error).__name__})") from None
        if response.status_code in TRANSIENT_STATUSES:
            raise TransientEhrError(
                f"EHR auth answered {response.status_code}",
                status=response.status_code,
                retry_after=retry_after(response.headers.get("retry-after")),
            )
        return response

    def _note_granted_scopes(self, granted: object) -> None:
        if not isinstance(granted, str) or set(granted.split()) == set(self._scopes.split()):
            return
        if granted != self._warned_scopes:
            self._warned_scopes = granted
            log.warning(
                "EHR granted other scopes than requested",
                extra={"requested": self._scopes, "granted": granted},
            )


class BearerAuth(httpx.Auth):
    """Puts an access token on every FHIR request; on a 401, one new token and one retry."""

    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        token = self._tokens.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self._tokens.discard(token)
            request.headers["Authorization"] = f"Bearer {self._tokens.token()}"
            yield request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        # Only httpx.AsyncClient gets here (sync_auth_flow above serves httpx.Client): the
        # token fetch is blocking I/O, so refuse rather than send a request without a token.
        raise RuntimeError("BearerAuth fetches tokens with blocking I/O: use httpx.Client")


class StaticBearerAuth(httpx.Auth):
    """``NEUROSCREEN_EHR_TOKEN`` as given: a 401 is final, there is nothing to refresh."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = self._header
        yield request


def ehr_auth(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Auth | None:
    """The ``httpx.Auth`` for ``NEUROSCREEN_EHR_AUTH``; loads the key file (fails at start-up)."""
    if settings.ehr_auth == "static" and settings.ehr_token:
        return StaticBearerAuth(settings.ehr_token.get_secret_value())
    credentials: ClientCredentials
    if settings.ehr_auth == "private-key-jwt" and settings.ehr_private_key_file:
        keys = load_key_ring(settings.ehr_private_key_file, settings.ehr_key_id)
        credentials = PrivateKeyJwt(keys, settings.ehr_client_id)
    elif settings.ehr_auth == "client-secret-basic" and settings.ehr_client_secret:
        secret = settings.ehr_client_secret.get_secret_value()
        credentials = ClientSecretBasic(settings.ehr_client_id, secret)
    else:
        return None
    tokens = TokenSource(
        settings.ehr_base_url,
        credentials,
        scopes=settings.ehr_scopes,
        token_url=settings.ehr_token_url,
        timeout=settings.ehr_timeout_seconds,
        transport=transport,
    )
    return BearerAuth(tokens)


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _oauth_error(response: httpx.Response) -> str:
    """The RFC 6749 ``error`` code only: ``error_description`` is free text we do not repeat."""
    code = _json_object(response).get("error")
    if isinstance(code, str) and OAUTH_ERROR_CODE.fullmatch(code):
        return code
    return "no error code"
