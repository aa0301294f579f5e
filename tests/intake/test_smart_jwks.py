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
REFETCH_SECONDS = 1


@pytest.fixture(scope="module")
def smart(postgres_server, redis_server, tmp_path_factory) -> Iterator[SmartStack]:
    yield from start_smart_stack(
        postgres_server,
        redis_server,
        tmp_path_factory.mktemp("jwks"),
        jwks_refetch_seconds=str(REFETCH_SECONDS),
        # Each uvicorn worker keeps its own copy of a fetched key set: with two, which worker
        # answered decided how many fetches a test saw (the old flake). The fetch policy is
        # per process, so one process is what these tests are about.
        intake_workers="1",
    )


def ask(smart: SmartStack, client_id: str = "ehr-remote", **options: object) -> int:
    return token_request(smart.base_url, smart.assertion(client_id, **options), SCOPE).status_code


def test_a_rotated_key_is_fetched_once_and_made_up_kids_are_not(smart: SmartStack):
    assert ask(smart) == 200
    fetched = smart.jwks.fetches
    rotated = rsa_key("remote-2")
    smart.jwks.document = public_jwks(smart.keys["ehr-remote"], rotated)  # type: ignore[arg-type]
    smart.keys["ehr-remote"] = rotated
    # The unknown kid is refused without a fetch until the refetch interval since the last
    # fetch has passed, then one refetch finds the new key: wait for that, not for a time.
    wait_until(lambda: ask(smart) == 200, 10, "the rotated key to be fetched")
    assert smart.jwks.fetches == fetched + 1
    started = time.monotonic()
    statuses = [ask(smart, header={"kid": f"made-up-{i}"}) for i in range(20)]
    elapsed = time.monotonic() - started
    assert statuses == [400] * 20
    # A flood of unknown kids fetches at most once per refetch interval while it lasts (a bound
    # from the policy, whatever the machine's speed), not once per kid.
    assert smart.jwks.fetches - (fetched + 1) <= 1 + int(elapsed / REFETCH_SECONDS)


def test_the_last_good_keys_are_kept_when_the_jwks_uri_fails(smart: SmartStack):
    smart.jwks.cache_control = "no-cache"  # from the next fetch on: refetch whenever allowed
    before = smart.jwks.fetches
    wait_until(
        lambda: ask(smart, header={"kid": "made-up"}) == 400 and smart.jwks.fetches > before,
        10,
        "an unknown kid to fetch the key set, which now says no-cache",
    )
    smart.jwks.status = 503
    before = smart.jwks.fetches
    answers: list[int] = []

    def refetch_failed() -> bool:
        answers.append(ask(smart))
        return smart.jwks.fetches > before

    # Every token request asks for a refetch; the one the interval allows fails with 503.
    wait_until(refetch_failed, 10, "a refetch of the key set")
    assert smart.jwks.fetches == before + 1
    assert answers == [200] * len(answers)  # the key set it had still verifies, throughout
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
