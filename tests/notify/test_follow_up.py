"""The follow-up job over a fake EHR transport, on both databases: statuses recorded,
the cursor moves on, and an overdue urgent Task is escalated exactly once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from notify.ehr_auth import StaticBearerAuth
from notify.ehr_client import EhrClient
from notify.follow_up import follow_up
from shared.config import get_settings
from shared.db import session_scope
from shared.fhir.codes import REVIEW_SCREENING, SCREENING_OUTPUT_IDENTIFIER, TASKS
from shared.metrics import PipelineCollector
from shared.models import Delivery, PeriodicJob, QuestionnaireResponseRecord
from shared.models.base import utcnow
from shared.tasks import FOLLOW_UP_TASKS

pytestmark = pytest.mark.usefixtures("configured")


class FakeEhr:
    """Tasks and Communications in memory, searched and written the way Medplum does."""

    def __init__(self, page_size: int = 2) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.communications: dict[str, dict[str, Any]] = {}
        self.searches: list[dict[str, list[str]]] = []
        self.page_size = page_size
        self.failing: bool | int = False
        """True (503) or the status every request gets."""
        self.refuse_writes: int | None = None
        """A status for every transaction, e.g. 403: the token lacks Communication create."""
        self.clock = utcnow() - timedelta(hours=1)

    def add_task(self, response_id: str, status: str = "requested") -> str:
        task_id = f"t-{len(self.tasks) + 1}"
        self.tasks[task_id] = {
            "resourceType": "Task",
            "id": task_id,
            "identifier": [{"system": SCREENING_OUTPUT_IDENTIFIER, "value": f"task/{response_id}"}],
            "code": {"coding": [{"system": TASKS, "code": REVIEW_SCREENING}]},
            "status": status,
        }
        self.touch(task_id)
        return task_id

    def set_status(self, task_id: str, status: str) -> None:
        self.tasks[task_id]["status"] = status
        self.touch(task_id)

    def touch(self, task_id: str) -> None:
        self.clock += timedelta(seconds=1)
        stamp = self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.tasks[task_id]["meta"] = {"lastUpdated": stamp}

    def client(self) -> EhrClient:
        return EhrClient(
            "http://ehr.test/fhir",
            auth=StaticBearerAuth("t"),
            timeout=1,
            transport=httpx.MockTransport(self),
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.failing:
            status = 503 if self.failing is True else self.failing
            return httpx.Response(status, json={"resourceType": "OperationOutcome", "issue": []})
        url = urlsplit(str(request.url))
        query = parse_qs(url.query)
        if request.method == "GET" and url.path == "/fhir/Task":
            self.searches.append(query)
            return httpx.Response(200, json=self._search(query))
        if request.method == "POST" and url.path.rstrip("/") == "/fhir":
            if self.refuse_writes:
                outcome = {"resourceType": "OperationOutcome", "issue": [{"code": "forbidden"}]}
                return httpx.Response(self.refuse_writes, json=outcome)
            return httpx.Response(200, json=self._transaction(orjson.loads(request.content)))
        return httpx.Response(404)

    def _search(self, query: dict[str, list[str]]) -> dict[str, Any]:
        tasks = sorted(self.tasks.values(), key=lambda t: t["meta"]["lastUpdated"])
        if "identifier" in query:
            value = query["identifier"][0].split("|", 1)[1]
            tasks = [t for t in tasks if t["identifier"][0]["value"] == value]
        if "_lastUpdated" in query:
            since = query["_lastUpdated"][0].removeprefix("gt")
            tasks = [t for t in tasks if t["meta"]["lastUpdated"] > since]
        offset = int(query.get("_offset", ["0"])[0])
        page = tasks[offset : offset + self.page_size]
        links = []
        if offset + self.page_size < len(tasks):
            rest = {k: v[0] for k, v in query.items() if k != "_offset"}
            rest["_offset"] = str(offset + self.page_size)
            links.append(
                {
                    "relation": "next",
                    "url": str(httpx.URL("http://ehr.test/fhir/Task", params=rest)),
                }
            )
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
            "entry": [{"resource": t} for t in page],
        }

    def _transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        (entry,) = bundle["entry"]
        key = entry["request"]["ifNoneExist"]
        if key not in self.communications:
            self.communications[key] = {**entry["resource"], "id": f"c-{len(self.communications)}"}
        location = f"Communication/{self.communications[key]['id']}"
        return {"resourceType": "Bundle", "entry": [{"response": {"location": location}}]}


def add_delivery(
    response_id: str, tier: str = "urgent", due_in: timedelta = -timedelta(minutes=1)
) -> None:
    now = utcnow()
    with session_scope() as session:
        session.add(
            QuestionnaireResponseRecord(
                id=response_id,
                patient=f"Patient/{response_id}",
                content_hash="h",
                resource="{}",
                last_updated=now,
                state="notified",
                state_changed_at=now,
            )
        )
        session.flush()
        session.add(
            Delivery(
                response_id=response_id,
                state="notified",
                tier=tier,
                coordinator="CareTeam/c",
                attempts=1,
                created_at=now,
                delivered_at=now,
                ehr_references=orjson.dumps([f"Task/t-{response_id}"]).decode(),
                task_due_at=now + due_in,
            )
        )


def run(ehr: FakeEhr | None) -> None:
    with session_scope() as session:
        follow_up(session, get_settings(), ehr.client() if ehr else None)


def delivery(response_id: str) -> Delivery:
    with session_scope() as session:
        row = session.get(Delivery, response_id)
        assert row is not None
        return row


def test_task_statuses_are_recorded_across_pages_and_the_cursor_moves_on():
    ehr = FakeEhr(page_size=2)
    ids = [f"r{i}" for i in range(5)]
    for response_id in ids:
        add_delivery(response_id, tier="high", due_in=timedelta(days=3))
        ehr.add_task(response_id)
    ehr.add_task("not-ours")  # a Task without a delivery here is ignored
    run(ehr)
    assert {delivery(i).task_status for i in ids} == {"requested"}
    assert "_lastUpdated" not in ehr.searches[0]  # the first run reads them all
    assert len(ehr.searches) == 3  # 6 Tasks in pages of 2, by the next links

    ehr.set_status("t-2", "accepted")
    ehr.set_status("t-4", "completed")
    ehr.searches.clear()
    run(ehr)
    assert ehr.searches[0]["_lastUpdated"][0].startswith("gt")
    assert ehr.searches[0]["code"] == [f"{TASKS}|{REVIEW_SCREENING}"]
    assert [delivery(i).task_status for i in ids] == [
        "requested",
        "accepted",
        "requested",
        "completed",
        "requested",
    ]
    with session_scope() as session:
        job = session.get(PeriodicJob, FOLLOW_UP_TASKS.name)
        assert job is not None and job.last_success_at is not None
        assert job.cursor == ehr.tasks["t-4"]["meta"]["lastUpdated"]


def test_an_older_task_version_never_overwrites_a_newer_status():
    ehr = FakeEhr()
    add_delivery("r1", tier="high", due_in=timedelta(days=3))
    task_id = ehr.add_task("r1")
    ehr.set_status(task_id, "completed")
    run(ehr)
    stale = dict(
        ehr.tasks[task_id], status="requested", meta={"lastUpdated": "2000-01-01T00:00:00Z"}
    )
    ehr.tasks[task_id] = stale
    run(ehr)
    assert delivery("r1").task_status == "completed"


def test_an_overdue_unaccepted_urgent_task_is_escalated_exactly_once():
    ehr = FakeEhr()
    add_delivery("late")
    add_delivery("not-yet-due", due_in=timedelta(hours=4))
    ehr.add_task("late")
    ehr.add_task("not-yet-due")
    for _ in range(3):
        run(ehr)
    assert len(ehr.communications) == 1
    (communication,) = ehr.communications.values()
    assert communication["identifier"][0]["value"] == "escalation/late"
    assert communication["recipient"] == [{"reference": "CareTeam/neuro-coordinators"}]
    assert communication["about"] == [{"reference": "Task/t-1"}]
    assert communication["subject"] == {"reference": "Patient/late"}
    assert communication["priority"] == "stat"
    escalated = delivery("late")
    assert escalated.escalated_at is not None
    assert escalated.escalation_reference == "Communication/c-0"
    assert escalated.escalation_recipient == "CareTeam/neuro-coordinators"
    assert delivery("not-yet-due").escalated_at is None


def test_a_task_accepted_just_before_the_run_is_not_escalated():
    ehr = FakeEhr()
    add_delivery("r1")
    ehr.add_task("r1")
    run(ehr)  # escalated: nobody took it on
    add_delivery("r2")
    second = ehr.add_task("r2")
    # Accepted in the EHR, but the search of this run will not see it (a stale cursor):
    # the escalation step reads the Task again before paging anyone.
    ehr.set_status(second, "accepted")
    ehr.tasks[second]["meta"]["lastUpdated"] = "2000-01-01T00:00:00Z"
    run(ehr)
    assert delivery("r2").escalated_at is None
    assert delivery("r2").task_status == "accepted"
    assert [c["identifier"][0]["value"] for c in ehr.communications.values()] == ["escalation/r1"]


def test_escalation_is_sent_even_when_the_task_is_missing_from_the_ehr():
    ehr = FakeEhr()
    add_delivery("gone")
    run(ehr)
    (communication,) = ehr.communications.values()
    assert communication["about"] == [{"reference": "Task/t-gone"}]  # what we wrote
    assert delivery("gone").task_status is None


def test_an_ehr_failure_leaves_the_escalation_for_the_next_run():
    ehr = FakeEhr()
    add_delivery("r1")
    ehr.add_task("r1")
    ehr.failing = True
    run(ehr)
    assert delivery("r1").escalated_at is None
    with session_scope() as session:
        job = session.get(PeriodicJob, FOLLOW_UP_TASKS.name)
        assert job is not None and job.last_success_at is None  # the age metric alarms
    ehr.failing = False
    run(ehr)
    assert delivery("r1").escalated_at is not None
    assert len(ehr.communications) == 1


def job_failure() -> str | None:
    with session_scope() as session:
        job = session.get(PeriodicJob, FOLLOW_UP_TASKS.name)
        assert job is not None
        return job.last_failure


def test_a_refused_escalation_write_is_alarmed_as_a_sign_in_failure():
    ehr = FakeEhr()
    add_delivery("r1")
    ehr.add_task("r1")
    ehr.refuse_writes = 403  # the EHR lets notify search Task but not create Communication
    run(ehr)
    assert delivery("r1").escalated_at is None
    assert delivery("r1").task_status == "requested"  # the search itself went through
    assert job_failure() == "auth-failed"
    assert 'neuroscreen_periodic_job_failing{job="neuroscreen.notify.follow_up_tasks",' in (
        scrape()
    )
    ehr.refuse_writes = None  # scope granted
    run(ehr)
    assert delivery("r1").escalated_at is not None
    assert job_failure() is None


def test_a_refused_search_is_alarmed_as_a_sign_in_failure():
    ehr = FakeEhr()
    add_delivery("r1")
    ehr.add_task("r1")
    ehr.failing = 401
    run(ehr)
    assert job_failure() == "auth-failed"
    assert delivery("r1").escalated_at is None
    ehr.failing = 503  # an outage is not a sign-in failure
    run(ehr)
    assert job_failure() == "transient"


def scrape() -> str:
    registry = CollectorRegistry()
    registry.register(PipelineCollector(get_settings()))
    return generate_latest(registry).decode()


def test_without_an_ehr_the_job_succeeds_and_does_nothing():
    add_delivery("held")
    run(None)
    assert delivery("held").escalated_at is None
    with session_scope() as session:
        job = session.get(PeriodicJob, FOLLOW_UP_TASKS.name)
        assert job is not None and job.last_success_at is not None
