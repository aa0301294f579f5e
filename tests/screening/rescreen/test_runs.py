"""Re-screening runs on both databases: dry run, apply, history, resume, idempotence."""

from __future__ import annotations

import orjson
import pytest
from fixtures.vignettes import MIXED_1_TO_2 as MIXED
from fixtures.vignettes import vignette_answers
from sqlalchemy import func, select
from support.scored import store_scored

from screening.rescreen import cancel_run, report, run_batch, run_to_end, start_run
from shared.db import session_scope
from shared.models import (
    DerivedResource,
    DerivedResourceVersion,
    OutboxMessage,
    RescreenRun,
    Screening,
)
from shared.pipeline import ResponseState
from shared.tasks import RESCREEN_BATCH

pytestmark = pytest.mark.usefixtures("configured")


@pytest.fixture
def mixed() -> dict[str, tuple[str, str]]:
    """The mixed set stored under 1.0.0, each at rest; response id = vignette id."""
    answers = vignette_answers()
    with session_scope() as session:
        for case in MIXED:
            store_scored(
                session, case, answers[case], state=ResponseState.NOTIFIED, version="1.0.0"
            )
    with session_scope() as session:
        assert {s.response_id: s.tier for s in session.scalars(select(Screening))} == {
            case: tiers[0] for case, tiers in MIXED.items()
        }
    return MIXED


def snapshot() -> tuple:
    with session_scope() as session:
        return (
            sorted(
                (s.response_id, s.tier, s.knowledge_version)
                for s in session.scalars(select(Screening))
            ),
            sorted(
                (r.id, r.version_id, r.resource) for r in session.scalars(select(DerivedResource))
            ),
            session.scalar(select(func.count()).select_from(DerivedResourceVersion)),
            session.scalar(select(func.count()).select_from(OutboxMessage)),
        )


def run(version: str, *, dry_run: bool, batch_size: int = 3) -> dict:
    with session_scope() as session:
        run_id = start_run(session, version, dry_run=dry_run, chain=False).id
    run_to_end(session_scope, run_id, batch_size=batch_size)
    with session_scope() as session:
        return report(session, session.get(RescreenRun, run_id))


def expected_transitions(cases: dict[str, tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for case, (old, new) in sorted(cases.items()):
        if old != new:
            found.setdefault(f"{old} -> {new}", []).append(case)
    return found


def test_dry_run_reports_each_tier_transition_with_its_responses_and_writes_nothing(mixed):
    before = snapshot()
    result = run("2.0.0", dry_run=True)
    assert {k: v["responses"] for k, v in result["transitions"].items()} == expected_transitions(
        mixed
    )
    assert result["transitions"]["low -> urgent"]["count"] == 1
    assert next(iter(result["transitions"])) == "low -> urgent"  # most serious first
    assert result["unchanged"] == {"low": 1, "urgent": 1}
    assert (result["status"], result["done"], result["total"]) == ("completed", 7, 7)
    assert snapshot() == before


def test_apply_makes_the_new_assessment_current_and_keeps_the_old_one_as_history(mixed):
    result = run("2.0.0", dry_run=False)
    assert {k: v["responses"] for k, v in result["transitions"].items()} == expected_transitions(
        mixed
    )
    with session_scope() as session:
        screenings = {s.response_id: s for s in session.scalars(select(Screening))}
        assert {k: s.tier for k, s in screenings.items()} == {k: t[1] for k, t in mixed.items()}
        assert {s.knowledge_version for s in screenings.values()} == {"2.0.0"}
        case = "g1-breathing-swallowing-alone"
        current = session.get(
            DerivedResource, ("RiskAssessment", screenings[case].risk_assessment_id)
        )
        old = session.get(DerivedResourceVersion, ("RiskAssessment", current.id, 1))
        assert current.version_id == 2
        now, then = orjson.loads(current.resource), orjson.loads(old.resource)
        assert now["meta"]["versionId"] == "2"
        assert now["method"]["coding"][0]["code"] == "2.0.0"
        assert then["method"]["coding"][0]["code"] == "1.0.0"
        assert (current.knowledge_version, old.knowledge_version) == ("2.0.0", "1.0.0")
        assert now["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "urgent"
        assert then["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "low"


def test_a_service_request_no_longer_proposed_is_revoked_not_lost(mixed):
    with session_scope() as session:
        before = {
            r.id: orjson.loads(r.resource)
            for r in session.scalars(
                select(DerivedResource).where(
                    DerivedResource.response_id == "g3-metformin",
                    DerivedResource.resource_type == "ServiceRequest",
                )
            )
        }
    run("2.0.0", dry_run=False)
    with session_scope() as session:
        after = {
            r.id: orjson.loads(r.resource)
            for r in session.scalars(
                select(DerivedResource).where(
                    DerivedResource.response_id == "g3-metformin",
                    DerivedResource.resource_type == "ServiceRequest",
                )
            )
        }
    dropped = [i for i in before if after[i]["status"] == "revoked"]
    assert set(before) <= set(after)
    assert all(after[i]["status"] == "draft" for i in after if i not in dropped)
    assert dropped, "moderate -> low under 2.0.0 should withdraw at least one proposed test"


def test_a_second_run_of_the_same_version_changes_nothing(mixed):
    run("2.0.0", dry_run=False)
    after_first = snapshot()
    again = run("2.0.0", dry_run=False)
    assert again["transitions"] == {}
    assert sorted(again["skipped"]["already"]) == sorted(mixed)
    assert snapshot() == after_first


def test_a_batch_that_dies_is_done_again_from_where_the_run_stopped(mixed):
    with session_scope() as session:
        run_id = start_run(session, "2.0.0", dry_run=False, chain=False).id
    with session_scope() as session:
        assert run_batch(session, run_id, 0, batch_size=3, chain=False)
    with pytest.raises(RuntimeError), session_scope() as session:
        run_batch(session, run_id, 1, batch_size=3, chain=False)
        raise RuntimeError("worker killed")  # the batch's transaction never commits
    with session_scope() as session:
        stored = session.get(RescreenRun, run_id)
        assert (stored.batch, stored.done) == (1, 3)
        # A duplicate of the finished batch is a no-op.
        assert not run_batch(session, run_id, 0, batch_size=3, chain=False)
    run_to_end(session_scope, run_id, batch_size=3)
    with session_scope() as session:
        result = report(session, session.get(RescreenRun, run_id))
        versions = session.scalars(
            select(DerivedResourceVersion).where(
                DerivedResourceVersion.resource_type == "RiskAssessment"
            )
        ).all()
    assert (result["status"], result["done"]) == ("completed", 7)
    # Every assessment was replaced exactly once.
    assert sorted(v.response_id for v in versions) == sorted(mixed)
    assert {v.version_id for v in versions} == {1}


def test_a_response_still_in_flight_is_left_alone_and_reported(mixed):
    answers = vignette_answers()
    with session_scope() as session:
        store_scored(
            session,
            "in-flight",
            answers["g1-breathing-swallowing-alone"],
            state=ResponseState.SENDING,
            version="1.0.0",
        )
    result = run("2.0.0", dry_run=False)
    assert result["skipped"]["in-flight"] == ["in-flight"]
    with session_scope() as session:
        assert session.get(Screening, "in-flight").knowledge_version == "1.0.0"


def test_a_chained_run_queues_its_batches_on_the_bulk_queue_and_can_be_cancelled(mixed):
    with session_scope() as session:
        run_id = start_run(session, "2.0.0", dry_run=False).id
    with session_scope() as session:
        jobs = session.scalars(select(OutboxMessage)).all()
        assert [
            (j.task, orjson.loads(j.payload)) for j in jobs if j.task == RESCREEN_BATCH.name
        ] == [(RESCREEN_BATCH.name, {"run_id": run_id, "batch": 0})]
    assert RESCREEN_BATCH.queue == "screening-bulk"
    with session_scope() as session:
        assert run_batch(session, run_id, 0, batch_size=3)
    with session_scope() as session:
        cancel_run(session, run_id)
    with session_scope() as session:
        assert not run_batch(session, run_id, 1, batch_size=3)
        stored = session.get(RescreenRun, run_id)
        assert (stored.status, stored.done) == ("cancelled", 3)
