"""SMART Backend Services end to end against a running intake: discovery, the token
endpoint's every check, a third-party client, and access tokens on the FHIR API."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from fixtures.responses import make_response
from joserfc import jwt
from support.smart import (
    ec_key,
    hs256_with_public_key,
    public_jwks,
    token_request,
    unsigned_assertion,
    write_clients,
)
from support.smart_stack import SmartStack, start_smart_stack
from support.stack import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

QR = "system/QuestionnaireResponse.cruds"


@pytest.fixture(scope="module")
def smart(postgres_server, redis_server, tmp_path_factory) -> Iterator[SmartStack]:
    # One intake process: each has its own JWKS cache, so with two the fetch count would
    # depend on which worker accepted each connection.
    tmp = tmp_path_factory.mktemp("smart")
    yield from start_smart_stack(postgres_server, redis_server, tmp, intake_workers="1")


def qr_body(patient: str | None = None) -> bytes:
    answers = {"burning": True, "numbness": True, "age": 54, "regions": ("left-foot",)}
    return orjson.dumps(
        make_response(
            answers,
            patient=patient or f"Patient/{uuid.uuid4().hex[:8]}",
            identifier=("urn:test:smart", uuid.uuid4().hex),
        )
    )


def test_discovery_is_public_and_names_one_algorithm_list(smart: SmartStack):
    reply = httpx.get(smart.base_url + "/.well-known/smart-configuration")
    assert reply.status_code == 200
    config = reply.json()
    assert config["token_endpoint"] == smart.token_url
    assert config["grant_types_supported"] == ["client_credentials"]
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert {"client-confidential-asymmetric", "permission-v2"} <= set(config["capabilities"])
    assert "system/QuestionnaireResponse.crs" in config["scopes_supported"]
    statement = httpx.get(smart.base_url + "/metadata").json()
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    oauth = next(e for e in security["extension"] if e["url"].endswith("/oauth-uris"))
    assert {"url": "token", "valueUri": smart.token_url} in oauth["extension"]


class FiveMinuteAssertion(PrivateKeyJWT):
    """Authlib's PrivateKeyJWT, with an assertion that lives 4 minutes (its default is an hour)."""

    def sign(self, auth, token_endpoint):  # type: ignore[no-untyped-def]
        self.claims = {"exp": int(time.time()) + 240}
        return super().sign(auth, token_endpoint)


def test_third_party_client_gets_a_token_and_posts_a_response(smart: SmartStack):
    key = smart.keys["ehr-full"]

    async def run() -> tuple[dict, httpx.Response]:
        auth = FiveMinuteAssertion(smart.token_url, headers={"kid": "full-1"}, alg="ES384")
        async with AsyncOAuth2Client(
            client_id="ehr-full", client_secret=key, token_endpoint_auth_method=auth, scope=QR
        ) as client:
            token = await client.fetch_token(smart.token_url, grant_type="client_credentials")
            posted = await client.post(
                smart.base_url + "/QuestionnaireResponse",
                content=qr_body(),
                headers={"Content-Type": "application/fhir+json"},
            )
            return token, posted

    token, posted = asyncio.run(run())
    assert token["token_type"].lower() == "bearer"
    assert 0 < token["expires_in"] <= 300
    assert token["scope"] == "system/QuestionnaireResponse.cruds"
    assert posted.status_code == 201, posted.text
    assert posted.json()["resourceType"] == "QuestionnaireResponse"


def _forgeries(s: SmartStack) -> dict[str, str]:
    full = s.keys["ehr-full"]
    replayed = s.assertion("ehr-full", jti="replay-" + uuid.uuid4().hex)
    assert token_request(s.base_url, replayed, QR).status_code == 200  # its first use is fine
    return {
        "alg none": unsigned_assertion("full-1", "ehr-full", s.token_url),
        "HS256 keyed with the public key": hs256_with_public_key(full, "ehr-full", s.token_url),  # type: ignore[arg-type]
        "exp 10 minutes ahead": s.assertion("ehr-full", exp_in=600),
        "exp in the past": s.assertion("ehr-full", exp_in=-60),
        "replayed jti": replayed,
        "wrong aud": s.assertion("ehr-full", claims={"aud": s.base_url + "/token"}),
        "unknown kid": s.assertion("ehr-full", header={"kid": "not-registered"}),
        "no kid": _without_kid(s),
        "unregistered jku": s.assertion("ehr-remote", header={"jku": "http://127.0.0.1:9/k.json"}),
        "jku on an inline-key client": s.assertion("ehr-full", header={"jku": s.jwks.url}),
        "two keys with the same kid": s.assertion("ehr-twins"),
        "sub is not iss": s.assertion("ehr-full", claims={"sub": "ehr-writer"}),
        "unregistered client": s.assertion("ehr-full", claims={"iss": "nobody", "sub": "nobody"}),
        "signed by another key with the client's kid": _impostor(s),
    }


def _without_kid(s: SmartStack) -> str:
    key = s.keys["ehr-full"]
    now = int(time.time())
    claims = {"iss": "ehr-full", "sub": "ehr-full", "aud": s.token_url, "exp": now + 60}
    return jwt.encode(
        {"alg": "ES384"}, {**claims, "jti": uuid.uuid4().hex}, key, algorithms=["ES384"]
    )  # type: ignore[arg-type]


def _impostor(s: SmartStack) -> str:
    impostor = ec_key("full-1")
    now = int(time.time())
    claims = {"iss": "ehr-full", "sub": "ehr-full", "aud": s.token_url, "exp": now + 60}
    return jwt.encode(
        {"alg": "ES384", "kid": "full-1"},
        {**claims, "jti": uuid.uuid4().hex},
        impostor,
        algorithms=["ES384"],
    )


def test_every_forged_assertion_is_refused_as_invalid_client(smart: SmartStack):
    for what, forged in _forgeries(smart).items():
        reply = token_request(smart.base_url, forged, QR)
        assert reply.status_code == 400, (what, reply.status_code, reply.text)
        assert reply.json()["error"] == "invalid_client", what
        assert reply.headers["cache-control"] == "no-store", what
        assert "access_token" not in reply.json(), what
    # The same client with an honest assertion still gets its token.
    assert token_request(smart.base_url, smart.assertion("ehr-full"), QR).status_code == 200


def test_wrong_grant_type_or_assertion_type_is_a_400(smart: SmartStack):
    honest = smart.assertion("ehr-full")
    wrong_grant = token_request(smart.base_url, honest, QR, grant_type="password")
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "invalid_client"
    assert wrong_grant.headers["cache-control"] == "no-store"
    wrong_type = token_request(smart.base_url, honest, QR, assertion_type="urn:x:saml")
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"] == "invalid_client"


def test_granted_scope_is_requested_within_the_ceiling(smart: SmartStack):
    base = smart.base_url
    reply = token_request(
        base,
        smart.assertion("ehr-writer"),
        "system/QuestionnaireResponse.cruds system/Patient.r",
    )
    assert reply.status_code == 200
    assert reply.json()["scope"] == "system/QuestionnaireResponse.c"
    assert reply.json()["expires_in"] <= 300
    assert reply.headers["cache-control"] == "no-store"
    v1 = token_request(base, smart.assertion("ehr-v1"), "system/QuestionnaireResponse.read")
    assert v1.json()["scope"] == "system/QuestionnaireResponse.rs"
    nothing = token_request(base, smart.assertion("ehr-writer"), "system/Observation.rs")
    assert nothing.status_code == 400
    assert nothing.json()["error"] == "invalid_client"


def test_client_keys_from_a_jwks_uri_are_cached(smart: SmartStack):
    before = smart.jwks.fetches
    first = token_request(smart.base_url, smart.assertion("ehr-remote"), QR)
    second = token_request(
        smart.base_url,
        smart.assertion("ehr-remote", header={"jku": smart.jwks.url}),
        QR,
    )
    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text  # jku equal to the registered URL is fine
    assert smart.jwks.fetches - before <= 1  # max-age=300: one fetch serves both


def test_access_tokens_on_the_fhir_api(smart: SmartStack):
    token = smart.token("ehr-full", QR)
    with smart.client(token) as api:
        created = api.post("/QuestionnaireResponse", content=qr_body())
        assert created.status_code == 201
        assert api.get(f"/QuestionnaireResponse/{created.json()['id']}").status_code == 200
    for presented in (None, "garbage", token[:-4] + "AAAA", _expired_token(smart, token)):
        headers = {"Authorization": f"Bearer {presented}"} if presented else {}
        reply = httpx.get(smart.base_url + "/QuestionnaireResponse", headers=headers)
        assert reply.status_code == 401, presented
        assert 'error="invalid_token"' in reply.headers["www-authenticate"]
        assert reply.json()["resourceType"] == "OperationOutcome"


def _expired_token(s: SmartStack, token: str) -> str:
    """The intake's own token, re-signed with an ``exp`` in the past (keys from its data dir)."""
    from joserfc.jwk import KeySet

    keys_file = s.stack.log_dir / "data" / "intake-signing-keys.json"
    key = KeySet.import_key_set(orjson.loads(keys_file.read_bytes())).keys[0]
    claims = jwt.decode(token, key, algorithms=["RS384"]).claims
    claims["exp"] = int(time.time()) - 60
    header = {"alg": "RS384", "kid": key.kid, "typ": "at+jwt"}
    return jwt.encode(header, claims, key, algorithms=["RS384"])


def test_a_new_client_is_accepted_without_a_restart(smart: SmartStack):
    newcomer = ec_key("new-1")
    smart.keys["ehr-new"] = newcomer
    registered = orjson.loads(smart.clients_file.read_bytes())
    refused = token_request(smart.base_url, smart.assertion("ehr-new"), QR)
    assert refused.status_code == 400
    write_clients(
        smart.clients_file,
        [*registered, {"client_id": "ehr-new", "jwks": public_jwks(newcomer), "scope": QR}],
    )
    wait_until(
        lambda: token_request(smart.base_url, smart.assertion("ehr-new"), QR).status_code == 200,
        10,
        "the new client to be accepted",
        every=0.5,
    )
    # SIGHUP re-reads the file too (here: the client is removed again).
    write_clients(smart.clients_file, registered)
    process = next(p for k, p in smart.stack.processes.items() if k.startswith("intake"))
    process.send_signal(signal.SIGHUP)
    wait_until(
        lambda: token_request(smart.base_url, smart.assertion("ehr-new"), QR).status_code == 400,
        10,
        "the removed client to be refused",
        every=0.5,
    )
    assert process.poll() is None  # SIGHUP reloads; it does not stop the intake
