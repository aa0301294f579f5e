"""SMART Backend Services client: assertions, token cache, 401 refetch and error sorting.

Unit tests over a fake EHR (``httpx.MockTransport``) that plays both the token endpoint
and the FHIR base; the strict authorization server of tests/ehr covers the real exchange.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from notify import ehr_auth as ehr_auth_module
from notify.ehr_auth import ehr_auth
from notify.ehr_client import EhrAuthFailed, EhrClient, TransientEhrError
from shared.config import DEFAULT_EHR_SCOPES, Settings

BASE = "http://ehr.test/fhir"
TOKEN_URL = "http://ehr.test/auth/token"
BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": []}
OK_BUNDLE = {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
SECRET = "s3cret:with/odd&chars"


class FakeEhr:
    """Token endpoint + FHIR base; records every request, answers from overridable hooks."""

    def __init__(self) -> None:
        self.token_requests: list[httpx.Request] = []
        self.fhir_requests: list[httpx.Request] = []
        self.fhir_authorizations: list[str | None] = []
        """As sent: httpx re-sends the same Request object after a 401."""
        self.discoveries = 0
        self.issued = 0
        self.expires_in: object = 300
        self.token_delay = 0.0
        self.token_answer: Callable[[httpx.Request], httpx.Response] | None = None
        self.fhir_answer: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(
            200, json=OK_BUNDLE
        )
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/fhir/.well-known/smart-configuration":
            self.discoveries += 1
            return httpx.Response(200, json={"token_endpoint": TOKEN_URL})
        if str(request.url) == TOKEN_URL:
            with self.lock:
                self.token_requests.append(request)
            if self.token_answer is not None:
                return self.token_answer(request)
            time.sleep(self.token_delay)
            with self.lock:
                self.issued += 1
                token = f"token-{self.issued}"
            body = {"access_token": token, "token_type": "bearer", "scope": DEFAULT_EHR_SCOPES}
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            return httpx.Response(200, json=body)
        self.fhir_requests.append(request)
        self.fhir_authorizations.append(request.headers.get("Authorization"))
        return self.fhir_answer(request)

    def form(self, index: int = -1) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.token_requests[index].content.decode()).items()}


@pytest.fixture
def fake() -> FakeEhr:
    return FakeEhr()


@pytest.fixture
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


def key_file(tmp_path: Path, *keys: RSAKey | ECKey) -> Path:
    path = tmp_path / "notify-key.pem"
    path.write_bytes(b"".join(key.as_pem(private=True) for key in keys))
    return path


def client_for(fake: FakeEhr, **settings: object) -> EhrClient:
    config = Settings(ehr_base_url=BASE, ehr_client_id="neuroscreen", **settings)
    transport = httpx.MockTransport(fake)
    return EhrClient(BASE, auth=ehr_auth(config, transport), timeout=1, transport=transport)


def jwt_client(fake: FakeEhr, tmp_path: Path, *keys: RSAKey | ECKey, **extra: object) -> EhrClient:
    return client_for(
        fake,
        ehr_auth="private-key-jwt",
        ehr_private_key_file=key_file(tmp_path, *keys),
        **{"ehr_token_url": TOKEN_URL, **extra},
    )


@pytest.mark.parametrize(
    ("key", "alg"),
    [(RSAKey.generate_key(2048), "RS384"), (ECKey.generate_key("P-384"), "ES384")],
    ids=["rsa", "ec-p384"],
)
def test_each_token_request_carries_a_fresh_smart_assertion(fake, tmp_path, key, alg):
    fake.expires_in = 0  # a token per request, so two assertions are made
    client = jwt_client(fake, tmp_path, key)
    client.post_transaction(BUNDLE)
    client.post_transaction(BUNDLE)

    assert len(fake.token_requests) == 2
    jtis = set()
    for index in range(2):
        form = fake.form(index)
        assert form["grant_type"] == "client_credentials"
        assert form["scope"] == DEFAULT_EHR_SCOPES
        assert form["client_assertion_type"] == (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        token = jwt.decode(form["client_assertion"], key, algorithms=[alg])
        assert token.header == {"alg": alg, "kid": key.thumbprint(), "typ": "JWT"}
        claims = token.claims
        assert claims["iss"] == claims["sub"] == "neuroscreen"
        assert claims["aud"] == TOKEN_URL
        assert 0 < claims["exp"] - time.time() <= 300
        jtis.add(claims["jti"])
    assert len(jtis) == 2, "a jti was reused"
    assert fake.fhir_authorizations == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_token_url_is_discovered_from_smart_configuration_once(fake, tmp_path, rsa_key):
    fake.expires_in = 0
    client = client_for(
        fake, ehr_auth="private-key-jwt", ehr_private_key_file=key_file(tmp_path, rsa_key)
    )
    for _ in range(3):
        client.post_transaction(BUNDLE)
    assert fake.discoveries == 1
    assert len(fake.token_requests) == 3
    claims = jwt.decode(fake.form()["client_assertion"], rsa_key, algorithms=["RS384"]).claims
    assert claims["aud"] == TOKEN_URL


def test_missing_smart_configuration_is_an_auth_failure(tmp_path, rsa_key):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": []})

    client = EhrClient(
        BASE,
        auth=ehr_auth(
            Settings(
                ehr_base_url=BASE,
                ehr_client_id="neuroscreen",
                ehr_auth="private-key-jwt",
                ehr_private_key_file=key_file(tmp_path, rsa_key),
            ),
            httpx.MockTransport(handler),
        ),
        timeout=1,
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(EhrAuthFailed, match="NEUROSCREEN_EHR_TOKEN_URL"):
        client.post_transaction(BUNDLE)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake_clock = FakeClock()
    monkeypatch.setattr(ehr_auth_module.time, "monotonic", fake_clock)
    return fake_clock


@pytest.mark.parametrize("expires_in", [30, 300, 3600])
def test_token_is_reused_until_shortly_before_expires_in(
    fake, tmp_path, rsa_key, clock, expires_in
):
    fake.expires_in = expires_in
    margin = ehr_auth_module.refresh_margin(expires_in)
    assert 0 < margin <= min(60, expires_in / 2), "refresh shortly before expiry, not long before"
    client = jwt_client(fake, tmp_path, rsa_key)
    started = clock.now
    client.post_transaction(BUNDLE)
    clock.now = started + expires_in - margin - 0.5  # still inside the lifetime the EHR gave
    client.post_transaction(BUNDLE)
    assert len(fake.token_requests) == 1
    clock.now = started + expires_in - margin + 0.5
    client.post_transaction(BUNDLE)
    assert len(fake.token_requests) == 2
    assert fake.fhir_authorizations[-1] == "Bearer token-2"


@pytest.mark.parametrize("expires_in", [None, "soon", -5, 0])
def test_token_without_a_usable_lifetime_is_used_once(fake, tmp_path, rsa_key, clock, expires_in):
    fake.expires_in = expires_in
    client = jwt_client(fake, tmp_path, rsa_key)
    client.post_transaction(BUNDLE)
    client.post_transaction(BUNDLE)
    assert len(fake.token_requests) == 2


def test_a_fhir_401_fetches_a_new_token_and_retries_once(fake, tmp_path, rsa_key):
    fake.fhir_answer = lambda r: (
        httpx.Response(401)
        if r.headers["Authorization"] == "Bearer token-1"
        else httpx.Response(200, json=OK_BUNDLE)
    )
    client = jwt_client(fake, tmp_path, rsa_key)
    client.post_transaction(BUNDLE)
    assert len(fake.token_requests) == 2
    assert fake.fhir_authorizations == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_a_second_401_with_a_fresh_token_is_an_auth_failure(fake, tmp_path, rsa_key):
    fake.fhir_answer = lambda r: httpx.Response(401)
    client = jwt_client(fake, tmp_path, rsa_key)
    with pytest.raises(EhrAuthFailed) as caught:
        client.post_transaction(BUNDLE)
    assert caught.value.status == 401
    assert caught.value.kind == "auth-failed"
    assert len(fake.fhir_requests) == 2
    assert len(fake.token_requests) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, "invalid_client"),
        (401, "invalid_client"),
        (400, "invalid_scope"),
        (400, "unauthorized_client"),
        (400, "invalid_grant"),
    ],
)
def test_refusals_of_the_token_endpoint_are_fatal_auth_failures(
    fake, tmp_path, rsa_key, status, error
):
    fake.token_answer = lambda r: httpx.Response(
        status, json={"error": error, "error_description": "client neuroscreen unknown"}
    )
    client = jwt_client(fake, tmp_path, rsa_key)
    with pytest.raises(EhrAuthFailed) as caught:
        client.post_transaction(BUNDLE)
    assert caught.value.error_code == error
    assert caught.value.status == status
    assert error in str(caught.value)
    assert "unknown" not in str(caught.value), "free text from the EHR is not repeated"
    assert assertion_not_in(fake, str(caught.value))
    assert fake.fhir_requests == []


def assertion_not_in(fake: FakeEhr, text: str) -> bool:
    return all(
        fake.form(i)["client_assertion"] not in text for i in range(len(fake.token_requests))
    )


def _raise(error: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("token endpoint trouble", request=request)

    return handler


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: httpx.Response(503),
        lambda r: httpx.Response(500, json={"error": "server_error"}),
        lambda r: httpx.Response(429, headers={"Retry-After": "30"}),
        _raise(httpx.ConnectError),
        _raise(httpx.ReadTimeout),
    ],
    ids=["503", "500", "429", "connect", "timeout"],
)
def test_token_endpoint_outages_are_transient(fake, tmp_path, rsa_key, answer):
    fake.token_answer = answer
    client = jwt_client(fake, tmp_path, rsa_key)
    with pytest.raises(TransientEhrError) as caught:
        client.post_transaction(BUNDLE)
    assert not isinstance(caught.value, EhrAuthFailed)
    if caught.value.status == 429:
        assert caught.value.retry_after == 30
    fake.token_answer = None  # the endpoint recovers: the next attempt gets through
    client.post_transaction(BUNDLE)
    assert len(fake.fhir_requests) == 1


def test_client_secret_basic_sends_urlencoded_credentials_and_no_assertion(fake):
    client = client_for(
        fake, ehr_auth="client-secret-basic", ehr_client_secret=SECRET, ehr_token_url=TOKEN_URL
    )
    client.post_transaction(BUNDLE)
    scheme, _, encoded = fake.token_requests[0].headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
    assert (unquote(client_id), unquote(secret)) == ("neuroscreen", SECRET)
    assert "client_assertion" not in fake.form()
    assert fake.form()["grant_type"] == "client_credentials"


def test_static_token_is_sent_as_is_and_a_401_is_final(fake):
    fake.fhir_answer = lambda r: httpx.Response(401)
    config = Settings(ehr_base_url=BASE, ehr_token="static-token")
    assert config.ehr_auth == "static"
    client = EhrClient(BASE, auth=ehr_auth(config), timeout=1, transport=httpx.MockTransport(fake))
    with pytest.raises(EhrAuthFailed):
        client.post_transaction(BUNDLE)
    assert fake.fhir_authorizations == ["Bearer static-token"]
    assert fake.token_requests == []


def test_none_sends_no_authorization(fake):
    client = EhrClient(
        BASE,
        auth=ehr_auth(Settings(ehr_base_url=BASE)),
        timeout=1,
        transport=httpx.MockTransport(fake),
    )
    client.post_transaction(BUNDLE)
    assert fake.fhir_authorizations == [None]


def test_concurrent_deliveries_share_one_token_fetch(fake, tmp_path, rsa_key):
    fake.token_delay = 0.2  # every thread asks while the first fetch is in flight
    client = jwt_client(fake, tmp_path, rsa_key)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            client.post_transaction(BUNDLE)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(fake.token_requests) == 1
    assert set(fake.fhir_authorizations) == {"Bearer token-1"}


def test_assertions_verify_against_the_published_jwks_only(tmp_path, rsa_key, fake):
    from notify.signing_keys import load_key_ring

    ring = load_key_ring(key_file(tmp_path, rsa_key))
    public = KeySet.import_key_set(ring.public_jwks())
    fake.expires_in = 0
    jwt_client(fake, tmp_path, rsa_key).post_transaction(BUNDLE)
    token = jwt.decode(fake.form()["client_assertion"], public, algorithms=["RS384"])
    assert token.claims["iss"] == "neuroscreen"


def test_a_forked_worker_does_not_inherit_the_parents_token(fake, tmp_path, rsa_key, monkeypatch):
    client = jwt_client(fake, tmp_path, rsa_key)
    client.post_transaction(BUNDLE)
    parent = ehr_auth_module.os.getpid()
    monkeypatch.setattr(ehr_auth_module.os, "getpid", lambda: parent + 1)  # a prefork child
    client.post_transaction(BUNDLE)
    client.post_transaction(BUNDLE)
    assert len(fake.token_requests) == 2, "one token per process, then cached"
