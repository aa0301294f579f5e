"""Every alert lands while the EHR fails a third of its requests (issue 22).

The unmodified Medplum test EHR sits behind a fault-injecting HTTP proxy
(``support.fault_proxy``) that answers 30% of requests 503, half of them after
forwarding the request (the write is stored, the acknowledgement lost). 40 urgent
alerts, each written in five transactions, on the production backoff settings: every
one is delivered exactly once, and no transaction the EHR acknowledged is ever sent
again (a partly written alert resumes). On the embedded default (SQLite, SQLite broker)
and on PostgreSQL + Redis.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from support.fault_proxy import FaultProxy
from support.pipeline import (
    COORDINATOR,
    EHR_TOKEN,
    TERMINAL,
    audit_ehr,
    create_patient,
    post_response,
    register_notify,
    smart_settings,
)
from support.stack import PATIENCE, Stack, wait_until

ALERTS = 40
SEED = 22


@pytest.fixture(params=["embedded", "postgres-redis"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(database URL, broker URL); an empty broker URL is the embedded SQLite broker."""
    if request.param == "embedded":
        return request.getfixturevalue("sqlite_url"), ""
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("redis_url")


@pytest.fixture
def flaky_ehr(ehr: EhrServer) -> Iterator[FaultProxy]:
    ehr.configure(token=EHR_TOKEN)
    proxy = FaultProxy(ehr.root_url, fail_rate=0.3, seed=SEED).start()
    yield proxy
    proxy.stop()


def states(database_url: str) -> dict[str, str]:
    query = "SELECT id, state FROM questionnaire_response"
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            return dict(connection.execute(query).fetchall())
    with psycopg.connect(database_url) as connection:
        return dict(connection.execute(query).fetchall())


@pytest.mark.timeout(int(180 * PATIENCE) + 300)  # the hang limit below, plus start-up
def test_every_alert_lands_once_while_the_ehr_fails_30_percent_of_requests(
    backend: tuple[str, str], ehr: EhrServer, flaky_ehr: FaultProxy, tmp_path: Path
):
    database_url, broker_url = backend
    stack = Stack.create(
        database_url,
        broker_url,
        tmp_path,
        ehr_base_url=f"{flaky_ehr.url}/fhir",
        **smart_settings(tmp_path),
        ehr_timeout_seconds="10",
        coordinator=COORDINATOR,
        # Backoff and redelivery stay at their production settings: urgent alerts are
        # retried at most 30 s apart.
    )
    try:
        stack.start("intake")
        stack.start("relay")
        stack.start("screening")
        register_notify(ehr, stack)
        stack.start("notify")
        patient = create_patient(ehr)  # straight to the EHR, not through the faults
        ids = [post_response(stack, EGPA_FOOT_DROP, patient) for _ in range(ALERTS)]

        def settled() -> dict[str, str] | None:
            current = states(database_url)
            return current if all(current.get(i) in TERMINAL for i in ids) else None

        try:
            # A hang detector (scaled by NEUROSCREEN_TEST_PATIENCE), not a timing target.
            final = wait_until(settled, 180, f"{ALERTS} alerts to settle", every=1)
        except AssertionError as error:
            current = states(database_url)
            counts = Counter(current.get(i, "missing") for i in ids)
            raise AssertionError(f"{error}; states now: {dict(counts)}") from None
    finally:
        stack.stop_all()

    assert Counter(final[i] for i in ids) == {"notified": ALERTS}
    audit_ehr(ehr, ids)
    assert len(ehr.search("Task", {"owner": COORDINATOR})) == ALERTS
    stats = flaky_ehr.stats
    assert stats["failed_before"] > 0 and stats["failed_after"] > 0, stats
    failed = stats["failed_before"] + stats["failed_after"]
    assert failed >= 0.1 * (failed + stats["forwarded"]), stats
    # Resumed, not restarted: what the EHR acknowledged was never sent again.
    assert stats["acknowledged_again"] == 0, stats
