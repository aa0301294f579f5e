"""Notify's SMART client against the strict authorization server of the test EHR.

The server (tests/ehr/smart-auth.mjs) is only worth testing against if it is strict, so
the first tests hand it assertions that break one rule each and expect a refusal; the
rest run notify's own client through sign-in, refresh, revocation and refusals.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from ehr_server import EhrServer
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from support.stack import wait_until

from notify.ehr_auth import ehr_auth
from notify.ehr_client import EhrAuthFailed, EhrClient, TransientEhrError
from notify.signing_keys import load_key_ring
from shared.config import Settings

CLIENT = "neuroscreen-notify"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def key() -> RSAKey:
    """With the kid notify gives a PEM key: its RFC 7638 thumbprint."""
    generated = RSAKey.generate_key(2048)
    return RSAKey.import_key(
        generated.as_dict(private=True), parameters={"kid": generated.thumbprint()}
    )


@pytest.fixture
def smart_ehr(ehr: EhrServer, key: RSAKey) -> EhrServer:
    ehr.register_client(CLIENT, scope="system/*.cruds", jwks={"keys": [key.as_dict(private=False)]})
    return ehr


def claims_for(ehr: EhrServer, **override: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": ehr.token_url,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


def ask_token(ehr: EhrServer, assertion: str, scope: str = "system/Task.cs") -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    return httpx.post(ehr.token_url, data=form, timeout=10)


def signed(key: RSAKey | ECKey, claims: dict[str, Any], **header: Any) -> str:
    alg = header.pop("alg", "RS384")
    head = {"alg": alg, "typ": "JWT", "kid": key.kid, **header}
    return jwt.encode({k: v for k, v in head.items() if v is not None}, claims, key, [alg])


def test_a_correct_assertion_gets_a_short_lived_bearer_token(smart_ehr, key):
    answer = ask_token(smart_ehr, signed(key, claims_for(smart_ehr)))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "system/Task.cs"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("break_it", "why"),
    [
        (lambda e, k: signed(k, claims_for(e), alg="RS256"), "alg"),
        (lambda e, k: signed(k, claims_for(e), kid=None), "kid"),
        (lambda e, k: signed(k, claims_for(e), typ="at+jwt"), "typ"),
        (lambda e, k: signed(k, claims_for(e), kid="unknown"), "key set"),
        (lambda e, k: signed(k, claims_for(e, aud=e.base_url)), "aud"),
        (lambda e, k: signed(k, claims_for(e, aud=[e.token_url])), "aud"),
        (lambda e, k: signed(k, claims_for(e, sub="someone-else")), "sub"),
        (lambda e, k: signed(k, claims_for(e, iss="stranger", sub="stranger")), "unknown client"),
        (lambda e, k: signed(k, claims_for(e, exp=int(time.time()) + 600)), "five minutes"),
        (lambda e, k: signed(k, claims_for(e, exp=int(time.time()) - 60)), "exp"),
        (lambda e, k: signed(k, claims_for(e, exp=None)), "exp"),
        (lambda e, k: signed(k, claims_for(e, jti=None)), "jti"),
        (
            lambda e, k: signed(
                RSAKey.generate_key(2048, parameters={"kid": k.kid}), claims_for(e)
            ),
            "signature",
        ),
    ],
    ids=[
        "rs256",
        "no-kid",
        "wrong-typ",
        "unknown-kid",
        "aud-fhir-base",
        "aud-array",
        "sub-differs",
        "unknown-iss",
        "exp-10-min",
        "expired",
        "no-exp",
        "no-jti",
        "other-key",
    ],
)
def test_the_server_refuses_assertions_that_break_a_rule(smart_ehr, key, break_it, why):
    answer = ask_token(smart_ehr, break_it(smart_ehr, key))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert why.lower() in answer.json()["error_description"].lower()


def test_the_server_refuses_a_replayed_jti(smart_ehr, key):
    assertion = signed(key, claims_for(smart_ehr))
    assert ask_token(smart_ehr, assertion).status_code == 200
    replay = ask_token(smart_ehr, assertion)
    assert replay.status_code == 400
    assert "jti" in replay.json()["error_description"]


def test_scopes_granted_are_requested_within_allowed(ehr, key):
    ehr.register_client(
        CLIENT, scope="system/Task.crs", jwks={"keys": [key.as_dict(private=False)]}
    )
    wanted = "system/Task.cs system/Communication.c"
    answer = ask_token(ehr, signed(key, claims_for(ehr)), scope=wanted)
    assert answer.json()["scope"] == "system/Task.cs"
    refused = ask_token(ehr, signed(key, claims_for(ehr)), scope="system/Patient.r")
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_scope")


def notify_client(ehr: EhrServer, tmp_path: Path, key: RSAKey | ECKey, **extra: Any) -> EhrClient:
    key_file = tmp_path / "notify.pem"
    key_file.write_bytes(key.as_pem(private=True))
    settings = Settings(
        ehr_base_url=ehr.base_url,
        ehr_auth="private-key-jwt",
        ehr_client_id=CLIENT,
        ehr_private_key_file=key_file,
        **extra,
    )
    return EhrClient(ehr.base_url, auth=ehr_auth(settings), timeout=10)


def patient_bundle() -> dict[str, Any]:
    """A one-entry conditional create, like the alert's entries."""
    value = uuid.uuid4().hex
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "Task",
                    "identifier": [{"system": "urn:test", "value": value}],
                    "status": "requested",
                    "intent": "order",
                },
                "request": {
                    "method": "POST",
                    "url": "Task",
                    "ifNoneExist": f"identifier=urn:test|{value}",
                },
            }
        ],
    }


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_notify_signs_in_by_discovery_and_writes(ehr, tmp_path, kind):
    key = RSAKey.generate_key(2048) if kind == "rsa" else ECKey.generate_key("P-384")
    ring_jwks = load_key_ring(_write(tmp_path, key)).public_jwks()
    ehr.register_client(CLIENT, scope="system/*.cruds", jwks=ring_jwks)
    client = notify_client(ehr, tmp_path, key)
    result = client.post_transaction(patient_bundle())
    assert result.references[0].startswith("Task/")
    smart = ehr.smart()
    assert smart["stats"]["tokensIssued"] == 1
    assert smart["stats"]["tokenErrors"] == {}


def _write(tmp_path: Path, key: RSAKey | ECKey) -> Path:
    path = tmp_path / "notify.pem"
    path.write_bytes(key.as_pem(private=True))
    return path


def test_tokens_are_refreshed_before_they_expire(ehr, tmp_path, key):
    ehr.register_client(CLIENT, scope="system/*.cruds", jwks={"keys": [key.as_dict(private=False)]})
    ehr.configure_smart(token_lifetime=2)
    client = notify_client(ehr, tmp_path, key)

    def third_token_issued() -> bool:
        client.post_transaction(patient_bundle())
        return ehr.smart()["stats"]["tokensIssued"] >= 3

    # Keep writing until the 2 s lifetime the EHR gave has made notify sign in twice more
    # (a client that ignored it would never ask again: the wait's limit catches that).
    wait_until(third_token_issued, 20, "notify to fetch fresh tokens as each one nears expiry")
    assert ehr.smart()["stats"]["unauthorized"] == 0, "a token was used after it expired"


def test_a_revoked_token_is_replaced_after_one_401(smart_ehr, tmp_path, key):
    client = notify_client(smart_ehr, tmp_path, key)
    client.post_transaction(patient_bundle())
    assert smart_ehr.revoke_tokens() == 1
    client.post_transaction(patient_bundle())
    stats = smart_ehr.smart()["stats"]
    assert (stats["unauthorized"], stats["tokensIssued"]) == (1, 2)


def test_a_missing_scope_is_a_403_auth_failure(smart_ehr, tmp_path, key):
    client = notify_client(smart_ehr, tmp_path, key, ehr_scopes="system/Communication.cs")
    with pytest.raises(EhrAuthFailed) as caught:
        client.post_transaction(patient_bundle())
    assert caught.value.status == 403
    assert smart_ehr.smart()["stats"]["forbidden"] == 1
    assert smart_ehr.search("Task") == []


def test_an_unregistered_client_is_refused_with_invalid_client(smart_ehr, tmp_path, key):
    smart_ehr.remove_client(CLIENT)
    smart_ehr.register_client("someone-else", scope="system/*.cruds", secret="x")
    with pytest.raises(EhrAuthFailed) as caught:
        notify_client(smart_ehr, tmp_path, key).post_transaction(patient_bundle())
    assert caught.value.error_code == "invalid_client"


def test_a_token_endpoint_outage_is_transient(smart_ehr, tmp_path, key):
    smart_ehr.configure_smart(down=True)
    client = notify_client(smart_ehr, tmp_path, key)
    with pytest.raises(TransientEhrError) as caught:
        client.post_transaction(patient_bundle())
    assert caught.value.status == 503
    smart_ehr.configure_smart(down=False)
    client.post_transaction(patient_bundle())
    assert len(smart_ehr.search("Task")) == 1


def test_client_secret_basic_signs_in(ehr):
    ehr.register_client(CLIENT, scope="system/*.cruds", secret="s3cret&+ :")
    settings = Settings(
        ehr_base_url=ehr.base_url,
        ehr_auth="client-secret-basic",
        ehr_client_id=CLIENT,
        ehr_client_secret="s3cret&+ :",
        ehr_token_url=ehr.token_url,
    )
    client = EhrClient(ehr.base_url, auth=ehr_auth(settings), timeout=10)
    client.post_transaction(patient_bundle())
    wrong = Settings(**{**settings.model_dump(), "ehr_client_secret": "guess"})
    with pytest.raises(EhrAuthFailed) as caught:
        EhrClient(ehr.base_url, auth=ehr_auth(wrong), timeout=10).post_transaction(patient_bundle())
    assert (caught.value.status, caught.value.error_code) == (401, "invalid_client")


def test_fhir_without_a_token_is_401_and_default_scopes_suffice(smart_ehr, tmp_path, key):
    anonymous = httpx.post(smart_ehr.base_url, json=patient_bundle(), timeout=10)
    assert anonymous.status_code == 401
    assert "invalid_token" in anonymous.headers["www-authenticate"]
    client = notify_client(smart_ehr, tmp_path, key)
    client.post_transaction(patient_bundle())
    granted = smart_ehr.smart()
    assert granted["stats"]["forbidden"] == 0
