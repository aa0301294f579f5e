"""JWT trust machinery: JWKS fetching and caching, replay stores, scopes, access tokens."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import orjson
import pytest
from joserfc.jwk import ECKey, RSAKey

from shared.trust import AmbiguousKey, KeysUnavailable, UnknownKey, UntrustedToken
from shared.trust.access_tokens import access_token_kid, issue_access_token, verify_access_token
from shared.trust.jwks import FetchedKeys, FetchPolicy, cache_lifetime
from shared.trust.replay import DatabaseReplayStore, RedisReplayStore
from shared.trust.scopes import grant, parse_scopes

URL = "https://ehr.example/jwks.json"


class FakeJwks:
    """A JWKS endpoint behind httpx.MockTransport, with a clock the test moves."""

    def __init__(self, *keys: ECKey, cache_control: str = "max-age=300") -> None:
        self.document = {"keys": [k.as_dict(private=False) for k in keys]}
        self.cache_control = cache_control
        self.fetches = 0
        self.failing = False
        self.now = 1000.0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.failing:
            return httpx.Response(503)
        return httpx.Response(
            200, json=self.document, headers={"Cache-Control": self.cache_control}
        )

    def source(self, policy: FetchPolicy | None = None) -> FetchedKeys:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return FetchedKeys(URL, client, policy, clock=lambda: self.now)


def key(kid: str) -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": kid}, private=True)


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_a_fetched_key_set_is_cached_for_its_max_age():
    endpoint = FakeJwks(key("a"))
    source = endpoint.source()

    async def scenario() -> None:
        await source.key_for("a")
        await source.key_for("a")
        assert endpoint.fetches == 1
        endpoint.now += 301
        await source.key_for("a")
        assert endpoint.fetches == 2

    run(scenario())


def test_cache_control_bounds():
    policy = FetchPolicy()
    assert cache_lifetime("public, max-age=120", policy) == 120
    assert cache_lifetime("max-age=1", policy) == policy.min_ttl_seconds
    assert cache_lifetime("max-age=999999999", policy) == policy.max_ttl_seconds
    assert cache_lifetime("no-store", policy) == 0
    assert cache_lifetime(None, policy) == policy.default_ttl_seconds


def test_an_unknown_kid_refetches_at_most_once_per_interval():
    old, new = key("old"), key("new")
    endpoint = FakeJwks(old)
    source = endpoint.source(FetchPolicy(refetch_interval_seconds=30))

    async def scenario() -> None:
        await source.key_for("old")
        endpoint.document = {"keys": [k.as_dict(private=False) for k in (old, new)]}
        with pytest.raises(UnknownKey):
            await source.key_for("new")  # fetched moments ago: no refetch yet
        assert endpoint.fetches == 1
        endpoint.now += 31
        assert (await source.key_for("new")).kid == "new"  # the rotated key is picked up
        assert endpoint.fetches == 2
        for _ in range(5):
            with pytest.raises(UnknownKey):
                await source.key_for("made-up")
        assert endpoint.fetches == 2  # a flood of made-up kids is not a flood of fetches

    run(scenario())


def test_the_last_good_key_set_is_kept_when_a_fetch_fails():
    endpoint = FakeJwks(key("a"))
    source = endpoint.source()

    async def scenario() -> None:
        await source.key_for("a")
        endpoint.failing = True
        endpoint.now += 400
        assert (await source.key_for("a")).kid == "a"
        assert endpoint.fetches == 2

    run(scenario())


def test_no_key_set_at_all_is_keys_unavailable():
    endpoint = FakeJwks(key("a"))
    endpoint.failing = True
    with pytest.raises(KeysUnavailable):
        run(endpoint.source().key_for("a"))


def test_an_oversized_key_set_is_refused():
    endpoint = FakeJwks(*(key(f"k{i}") for i in range(40)))
    with pytest.raises(KeysUnavailable):
        run(endpoint.source(FetchPolicy(max_bytes=2048)).key_for("k1"))


def test_a_timeout_is_a_failed_fetch():
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(hang))
    with pytest.raises(KeysUnavailable):
        run(FetchedKeys(URL, client).key_for("a"))


def test_two_keys_with_one_kid_are_ambiguous():
    endpoint = FakeJwks(key("same"), key("same"))
    with pytest.raises(AmbiguousKey):
        run(endpoint.source().key_for("same"))


@pytest.mark.redis
def test_redis_replay_store_accepts_a_jti_once(redis_url: str):
    store = RedisReplayStore(redis_url)
    expires = int(time.time()) + 60
    assert store.first_use("ehr-a", "j1", expires) is True
    assert store.first_use("ehr-a", "j1", expires) is False
    assert store.first_use("ehr-b", "j1", expires) is True  # jti is per issuer


def test_database_replay_store_accepts_a_jti_once(configured: str):
    store = DatabaseReplayStore()
    expires = int(time.time()) + 60
    assert store.first_use("ehr-a", "j1", expires) is True
    assert store.first_use("ehr-a", "j1", expires) is False
    assert store.first_use("ehr-b", "j1", expires) is True


def test_granted_scopes_are_the_request_narrowed_to_the_ceiling():
    ceiling = "system/QuestionnaireResponse.c system/*.rs system/neuroscreen.admin"
    assert (
        grant("system/QuestionnaireResponse.cruds", ceiling) == "system/QuestionnaireResponse.crs"
    )
    assert grant("system/Observation.read", ceiling) == "system/Observation.rs"
    assert grant("system/Observation.write", ceiling) == ""
    assert grant("system/neuroscreen.admin system/Task.c", ceiling) == "system/neuroscreen.admin"
    assert grant("system/Observation.rs?category=x", ceiling) == ""  # query scopes: unsupported
    grants = parse_scopes("system/QuestionnaireResponse.write system/*.read")
    assert grants.allows("QuestionnaireResponse", "c")
    assert grants.allows("Observation", "s")
    assert not grants.allows("Observation", "c")


def test_access_tokens_verify_with_their_key_and_audience_only():
    signing = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    token, lifetime = issue_access_token(
        signing, issuer="https://i/fhir", audience="https://i/fhir", client_id="ehr", scope="x"
    )
    assert lifetime <= 300
    assert access_token_kid(token) == "k1"
    verified = verify_access_token(
        token, signing, issuer="https://i/fhir", audience="https://i/fhir"
    )
    assert verified.client_id == "ehr"
    with pytest.raises(UntrustedToken):
        verify_access_token(
            token, signing, issuer="https://other/fhir", audience="https://other/fhir"
        )
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    with pytest.raises(UntrustedToken):
        verify_access_token(token, other, issuer="https://i/fhir", audience="https://i/fhir")
    header, claims, _ = token.split(".")
    assert orjson.loads(_pad(header))["typ"] == "at+jwt"
    assert "ehr" in orjson.loads(_pad(claims))["client_id"]


def _pad(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
