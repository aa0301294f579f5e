"""Re-screening on real processes: responses scored and alerted under knowledge 1.0.0, then
re-screened under 2.0.0 on the bulk queue while its worker is killed mid-run. Exactly the
responses whose tier rose to alerting get a new Task (once each, saying why); nothing else
is sent again, and every response is re-scored exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from ehr_server import EhrServer
from fixtures.vignettes import MIXED_1_TO_2, rose_to_alert, vignette_answers
from sqlalchemy.orm import Session
from support.pipeline import (
    COORDINATOR,
    create_patient,
    post_response,
    register_notify,
    smart_settings,
    wait_for_states,
)
from support.stack import Stack, wait_until

from screening.rescreen import start_run
from shared.db import make_engine
from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER

pytestmark = pytest.mark.slow

COPIES = 3
ALERTING = {"moderate", "high", "urgent"}
MIXED = MIXED_1_TO_2


@pytest.fixture
def stack(
    postgres_url: str, redis_url: str, ehr_with_token: EhrServer, tmp_path: Path
) -> Iterator[Stack]:
    stack = Stack.create(
        postgres_url,
        redis_url,
        tmp_path,
        ehr_base_url=ehr_with_token.base_url,
        **smart_settings(tmp_path),
        coordinator=COORDINATOR,
        redeliver_after_seconds="4",
        # Small batches: the run has many, so the kill lands mid-run.
        rescreen_batch_size="2",
    )
    stack.start("intake")
    stack.start("relay")
    stack.start("screening", NEUROSCREEN_KNOWLEDGE_VERSION="1.0.0")
    stack.start("screening-bulk")
    register_notify(ehr_with_token, stack)
    stack.start("notify")
    yield stack
    stack.stop_all()


def run_row(database_url: str, run_id: str) -> tuple[str, int, int]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT status, done, total FROM rescreen_run WHERE id = %s", (run_id,)
        ).fetchone()


def tasks(ehr: EhrServer, value: str) -> list[dict]:
    return ehr.search("Task", {"identifier": f"{SCREENING_OUTPUT_IDENTIFIER}|{value}"})


def test_apply_alerts_exactly_the_risen_responses_once_each_through_a_worker_kill(
    stack: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    ehr = ehr_with_token
    patient = create_patient(ehr)
    answers = vignette_answers()
    posted: dict[str, str] = {}
    for copy in range(COPIES):
        for case in MIXED:
            posted[post_response(stack, answers[case], patient, f"{case}-{copy}")] = case
    wait_for_states(postgres_url, list(posted), 120)

    engine = make_engine(postgres_url)
    with Session(engine) as session, session.begin():
        run_id = start_run(session, "2.0.0", dry_run=False).id
    engine.dispose()
    wait_until(lambda: run_row(postgres_url, run_id)[1] >= 4, 60, "the run to start")
    stack.kill(stack.key_of("screening-bulk"))  # SIGKILL, mid-run
    assert run_row(postgres_url, run_id)[0] == "running"
    stack.start("screening-bulk")
    wait_until(lambda: run_row(postgres_url, run_id)[0] == "completed", 180, "the run to end")
    assert run_row(postgres_url, run_id)[1:] == (len(posted), len(posted))
    wait_for_states(postgres_url, list(posted), 120)

    for response_id, case in posted.items():
        old, new = MIXED[case]
        first, second = tasks(ehr, f"task/{response_id}"), tasks(ehr, f"task/{response_id}/v2")
        assert len(first) == (1 if old in ALERTING else 0), f"{case}: round-1 Tasks {len(first)}"
        risen = rose_to_alert(old, new)
        assert len(second) == (1 if risen else 0), f"{case}: re-screen Tasks {len(second)}"
        if risen:
            assert second[0]["reasonCode"]["text"] == (
                f"re-screened under knowledge 2.0.0: tier rose from {old} to {new}"
            )
            communications = ehr.search(
                "Communication",
                {"identifier": f"{SCREENING_OUTPUT_IDENTIFIER}|communication/{response_id}/v2"},
            )
            assert len(communications) == 1
    with psycopg.connect(postgres_url) as connection:
        replaced = dict(
            connection.execute(
                "SELECT response_id, count(*) FROM derived_resource_version "
                "WHERE resource_type = 'RiskAssessment' GROUP BY 1"
            ).fetchall()
        )
        versions = dict(
            connection.execute("SELECT response_id, knowledge_version FROM screening").fetchall()
        )
    assert replaced == dict.fromkeys(posted, 1), "each response re-scored exactly once"
    assert set(versions.values()) == {"2.0.0"}
