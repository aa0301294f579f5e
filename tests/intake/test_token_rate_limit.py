"""Attacks on the token endpoint's rate limit and audit trail (issue 18, item 4).

Before the fix, the limit was keyed on the unverified ``iss``: 32 junk assertions
claiming a real client's id locked that client out, random ``iss`` values were never
limited, the bucket map grew without bound, and each refusal wrote an AuditEvent
whose agent the attacker chose. Attackers here connect from other loopback
addresses (127.0.0.2, 127.0.0.3) than the real client (127.0.0.1).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
import sqlalchemy
from support.smart import ASSERTION_TYPE, assertion, ec_key
from support.smart_stack import SmartStack, start_smart_stack

from intake.audit import UNREGISTERED_CLIENTS
from intake.smart.rate_limit import MAX_KEYS, RateLimiter, peer_key

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SCOPE = "system/QuestionnaireResponse.c"
# Token requests per minute: per client 0.6 (a burst of 1), per address 4 x 0.6 = 2.4 (a
# burst of 2, then one every 25 s): slow refills, so a loaded machine sees the same counts.
PER_CLIENT = 0.6
PER_ADDRESS = 2


def test_the_bucket_map_is_bounded():
    limiter = RateLimiter(per_second=1, burst=1)
    for n in range(MAX_KEYS * 2):
        limiter.retry_after(f"random-iss-{n}")
    assert len(limiter) == MAX_KEYS


def test_ipv6_peers_share_their_64_and_ipv4_peers_are_their_address():
    assert peer_key("2001:db8::1") == peer_key("2001:db8::ffff:2") == "2001:db8::/64"
    assert peer_key("2001:db8:0:1::1") != peer_key("2001:db8::1")
    assert peer_key("192.0.2.7") == "192.0.2.7"


@pytest.fixture(scope="module")
def limited(postgres_server, redis_server, tmp_path_factory) -> Iterator[SmartStack]:
    yield from start_smart_stack(
        postgres_server,
        redis_server,
        tmp_path_factory.mktemp("token-limits"),
        token_requests_per_minute=str(PER_CLIENT),
        intake_workers="1",  # budgets are per process: one process, one budget
    )


def ask(smart: SmartStack, client_assertion: str, source: str = "127.0.0.1") -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30) as http:
        return http.post(
            smart.token_url,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": client_assertion,
                "scope": SCOPE,
            },
        )


def test_junk_claiming_a_real_client_does_not_lock_it_out(limited: SmartStack):
    forged_key = ec_key("writer-1")  # the real client's kid, not its key
    junk = [
        ask(limited, assertion(forged_key, "ehr-writer", limited.token_url), "127.0.0.2")
        for _ in range(32)
    ]
    statuses = [reply.status_code for reply in junk]
    assert statuses[:PER_ADDRESS] == [400] * PER_ADDRESS
    assert statuses.count(400) <= PER_ADDRESS + 1  # at most one refill while the 32 ran
    assert all(reply.json()["error"] == "invalid_client" for reply in junk[:PER_ADDRESS])
    assert int(junk[-1].headers["retry-after"]) >= 1

    # The real client, from its own address, still has its whole budget (a burst of 1).
    real = [ask(limited, limited.assertion("ehr-writer")) for _ in range(2)]
    assert [r.status_code for r in real] == [200, 429]


def test_random_iss_values_are_limited_by_address(limited: SmartStack):
    key = ec_key("any")
    replies = [
        ask(limited, assertion(key, f"random-{uuid.uuid4().hex}", limited.token_url), "127.0.0.3")
        for _ in range(PER_ADDRESS + 8)
    ]
    statuses = [r.status_code for r in replies]
    assert statuses[:PER_ADDRESS] == [400] * PER_ADDRESS and statuses.count(429) >= 7


def test_unregistered_refusals_are_counted_and_audited_in_aggregate(
    postgres_server, redis_server, tmp_path
):
    stack = start_smart_stack(
        postgres_server, redis_server, tmp_path, token_requests_per_minute=str(PER_CLIENT)
    )
    smart = next(stack)
    try:
        forged_key, key = ec_key("writer-1"), ec_key("any")
        for _ in range(2):  # a registered id with the wrong key: each attempt on the record
            assert (
                ask(smart, assertion(forged_key, "ehr-writer", smart.token_url)).status_code == 400
            )
        for _ in range(PER_ADDRESS + 3):  # names of the attacker's choosing; the last 429
            junk = assertion(key, f"random-{uuid.uuid4().hex}", smart.token_url)
            assert ask(smart, junk, "127.0.0.2").status_code in (400, 429)
        metrics = httpx.get(smart.base_url[: -len("/fhir")] + "/metrics", timeout=30).text
        assert re.search(r'neuroscreen_token_refusals_total\{client="unregistered"\} ', metrics)
        # Stopping the intake writes the last interval's count; then read the audit table.
        smart.stack.stop(smart.stack.key_of("intake"))
        rows = audit_rows(smart.stack.env["NEUROSCREEN_DATABASE_URL"])
    finally:
        stack.close()

    assert not any(row.agent.startswith("random-") for row in rows)  # never attacker-chosen
    assert len([r for r in rows if r.agent == "ehr-writer" and r.outcome == "4"]) == 2
    aggregates = [orjson.loads(row.resource) for row in rows if row.agent == UNREGISTERED_CLIENTS]
    assert 1 <= len(aggregates) <= 2  # one a minute (the test takes well under two)
    assert sum(int(event["outcomeDesc"].split()[0]) for event in aggregates) == PER_ADDRESS + 3
    assert all(event["period"]["start"] <= event["period"]["end"] for event in aggregates)


def audit_rows(database_url: str) -> list[sqlalchemy.Row]:
    engine = sqlalchemy.create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://")
    )
    try:
        with engine.connect() as connection:
            query = sqlalchemy.text("SELECT agent, outcome, resource FROM audit_event")
            return list(connection.execute(query).all())
    finally:
        engine.dispose()
