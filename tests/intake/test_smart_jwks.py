"""A client's keys behind a jwks_uri, end to end: rotation picked up on an unknown kid,
refetches rate-limited, the last good key set kept when the URL fails, a size cap."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest
from support.smart import jwks_server, public_jwks, rsa_key, token_request, write_clients
from support.smart_stack import SmartStack, start_smart_stack
from support.stack import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SCOPE = "system/QuestionnaireResponse.c"


@pytest.fixture(scope="module")
def smart(postgres_server, redis_server, tmp_path_factory) -> Iterator[SmartStack]:
    yield from start_smart_stack(
        postgres_server, redis_server, tmp_path_factory.mktemp("jwks"), jwks_refetch_seconds="1"
    )


def ask(smart: SmartStack, client_id: str = "ehr-remote", **options: object) -> int:
    return token_request(smart.base_url, smart.assertion(client_id, **options), SCOPE).status_code


def test_a_rotated_key_is_fetched_once_and_made_up_kids_are_not(smart: SmartStack):
    assert ask(smart) == 200
    fetched = smart.jwks.fetches
    rotated = rsa_key("remote-2")
    smart.jwks.document = public_jwks(smart.keys["ehr-remote"], rotated)  # type: ignore[arg-type]
    time.sleep(1.2)
    smart.keys["ehr-remote"] = rotated
    assert ask(smart) == 200  # unknown kid: one refetch finds the new key
    assert smart.jwks.fetches == fetched + 1
    statuses = [ask(smart, header={"kid": f"made-up-{i}"}) for i in range(6)]
    assert statuses == [400] * 6
    assert smart.jwks.fetches <= fetched + 2  # a flood of unknown kids: at most one more fetch


def test_the_last_good_keys_are_kept_when_the_jwks_uri_fails(smart: SmartStack):
    smart.jwks.cache_control = "no-cache"  # from the next fetch on: refetch whenever allowed
    time.sleep(1.2)
    assert ask(smart, header={"kid": "made-up"}) == 400  # an unknown kid fetches, sees no-cache
    assert ask(smart) == 200
    smart.jwks.status = 503
    time.sleep(1.2)
    before = smart.jwks.fetches
    assert ask(smart) == 200  # the fetch failed; the key set it had still verifies
    assert smart.jwks.fetches == before + 1
    smart.jwks.status = 200
    smart.jwks.cache_control = "max-age=300"


def test_an_oversized_key_set_is_refused(smart: SmartStack):
    huge = rsa_key("huge-1")
    document = {"keys": [huge.as_dict(private=False)], "padding": "x" * (65 * 1024)}
    with jwks_server(document) as server:
        registered = orjson.loads(smart.clients_file.read_bytes())
        entry = {"client_id": "ehr-huge", "jwks_uri": server.url, "scope": SCOPE}
        write_clients(smart.clients_file, [*registered, entry])
        smart.keys["ehr-huge"] = huge

        def fetched_and_refused() -> bool:
            return ask(smart, "ehr-huge") == 400 and server.fetches > 0

        # Registered once the file is re-read, its key set fetched, and refused for its size.
        wait_until(fetched_and_refused, 10, "the oversized key set to be fetched")
        assert ask(smart, "ehr-huge") == 400
        write_clients(smart.clients_file, registered)
