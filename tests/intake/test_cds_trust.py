"""Who may call the CDS service: EHR-signed JWTs only, and browsers from listed origins.

Every refusal is a 401 before anything is read; a preflight needs no JWT.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from support.cds import CdsEhr, signed_jwt
from support.cds_stack import EHR_ORIGIN, CdsService, start_cds_service
from support.smart import ec_key, hs256_with_public_key, rsa_key, unsigned_assertion

from intake.cds.models import CDSHooksResponse


@pytest.fixture(scope="module")
def cds(
    postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CdsService]:
    yield from start_cds_service(postgres_server, redis_server, tmp_path_factory.mktemp("cds"))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


FORGERIES: dict[str, Callable[[CdsEhr], dict[str, str]]] = {
    "no token": lambda ehr: {},
    "not a JWT": lambda ehr: _bearer("not-a-jwt"),
    "alg none": lambda ehr: _bearer(unsigned_assertion(ehr.key.kid, ehr.iss, ehr.service_url)),
    "HS256 keyed with the public key": lambda ehr: _bearer(
        hs256_with_public_key(ehr.key, ehr.iss, ehr.service_url)
    ),
    "unknown iss": lambda ehr: _bearer(
        signed_jwt(ehr.key, iss="https://rogue.example.org", aud=ehr.service_url)
    ),
    "key the issuer never published": lambda ehr: _bearer(
        signed_jwt(ec_key(ehr.key.kid), iss=ehr.iss, aud=ehr.service_url)
    ),
    "unknown kid": lambda ehr: _bearer(
        signed_jwt(rsa_key("someone-else"), iss=ehr.iss, aud=ehr.service_url)
    ),
    "no kid": lambda ehr: _bearer(
        signed_jwt(ehr.key, iss=ehr.iss, aud=ehr.service_url, header={"kid": ""})
    ),
    "jku not the registered jwks_uri": lambda ehr: _bearer(
        signed_jwt(
            ehr.key, iss=ehr.iss, aud=ehr.service_url, header={"jku": "https://evil.example/k"}
        )
    ),
    "wrong aud: the discovery URL": lambda ehr: ehr.bearer(ehr.discovery_url),
    "wrong aud: another host": lambda ehr: ehr.bearer(
        ehr.service_url.replace("127.0.0.1", "localhost")
    ),
    "wrong aud: a trailing slash": lambda ehr: ehr.bearer(ehr.service_url + "/"),
    "expired": lambda ehr: ehr.bearer(ehr.service_url, exp_in=-30),
    "iat over five minutes old": lambda ehr: ehr.bearer(
        ehr.service_url, iat=int(time.time()) - 330, exp_in=120
    ),
    "iat in the future": lambda ehr: ehr.bearer(
        ehr.service_url, iat=int(time.time()) + 120, exp_in=300
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_the_hook_refuses_a_bad_jwt(cds: CdsService, forgery: str):
    reply = cds.ehr.patient_view(cds.patients["urgent"], headers=FORGERIES[forgery](cds.ehr))
    assert reply.status_code == 401, reply.text
    assert "invalid_token" in reply.headers["www-authenticate"]
    assert "cards" not in reply.text


def test_a_good_jwt_is_accepted_once(cds: CdsService):
    headers = cds.ehr.bearer(cds.ehr.service_url)
    first = cds.ehr.patient_view(cds.patients["urgent"], headers=headers)
    assert first.status_code == 200
    assert CDSHooksResponse.model_validate(first.json()).cards
    replayed = cds.ehr.patient_view(cds.patients["urgent"], headers=headers)
    assert replayed.status_code == 401
    assert "jti" in replayed.text


def test_an_rs384_key_behind_the_jwks_uri_works_too(cds: CdsService):
    token = signed_jwt(cds.rsa_key, iss=cds.ehr.iss, aud=cds.ehr.service_url)
    reply = cds.ehr.patient_view(cds.patients["urgent"], headers=_bearer(token))
    assert reply.status_code == 200, reply.text
    assert CDSHooksResponse.model_validate(reply.json()).cards


def test_discovery_and_feedback_need_a_jwt_for_their_own_url(cds: CdsService):
    ehr = cds.ehr
    assert httpx.get(ehr.discovery_url, timeout=10).status_code == 401
    wrong = httpx.get(ehr.discovery_url, headers=ehr.bearer(ehr.service_url), timeout=10)
    assert wrong.status_code == 401
    assert ehr.discover().services
    body = {"feedback": []}
    assert httpx.post(ehr.feedback_url, json=body, timeout=10).status_code == 401


def test_a_preflight_needs_no_jwt_and_names_the_allowed_origin(cds: CdsService):
    reply = httpx.options(
        cds.ehr.service_url,
        headers={
            "Origin": EHR_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
    )
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == EHR_ORIGIN
    allowed = {h.strip().lower() for h in reply.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in reply.headers["access-control-allow-methods"]


def test_a_preflight_from_an_unlisted_origin_gets_no_allow_origin(cds: CdsService):
    reply = httpx.options(
        cds.ehr.service_url,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert reply.headers.get("access-control-allow-origin") != "https://evil.example"
    assert reply.status_code >= 400


def test_answers_to_a_listed_origin_carry_allow_origin_and_the_fhir_api_stays_closed(
    cds: CdsService,
):
    origin = {"Origin": EHR_ORIGIN}
    ok = cds.ehr.patient_view(
        cds.patients["urgent"], headers={**origin, **cds.ehr.bearer(cds.ehr.service_url)}
    )
    assert ok.headers["access-control-allow-origin"] == EHR_ORIGIN
    refused = cds.ehr.patient_view(cds.patients["urgent"], headers=origin)
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == EHR_ORIGIN
    fhir = httpx.options(
        cds.stack.base_url + "/metadata",
        headers={**origin, "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in fhir.headers
