"""Helpers for the end-to-end and fault tests: post responses, wait for them, audit the EHR."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import psycopg
from ehr_server import EhrServer
from fixtures.responses import make_response
from joserfc.jwk import RSAKey

from shared.config import DEFAULT_EHR_SCOPES
from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER
from support.stack import Stack, wait_until

EHR_TOKEN = "ehr-secret"
"""The test harness's own static token (create_patient...); notify signs in with SMART."""
SMART_CLIENT_ID = "neuroscreen-notify"
SMART_TOKEN_LIFETIME = 8
"""Seconds: short, so that every end-to-end run refreshes notify's token several times."""
COORDINATOR = "Practitioner/coordinator-1"
TERMINAL = {"notified", "no-alert", "dead-letter", "failed", "held"}


def smart_settings(key_dir: Path) -> dict[str, str]:
    """Notify's settings for SMART Backend Services, with a new RSA key in ``key_dir``: the
    worker signs with the private file, the notify API publishes the public one."""
    key = RSAKey.generate_key(2048)
    key_file = key_dir / "notify-ehr-key.pem"
    key_file.write_bytes(key.as_pem(private=True))
    public_file = key_dir / "notify-ehr-public-keys.pem"
    public_file.write_bytes(key.as_pem(private=False))
    return {
        "ehr_auth": "private-key-jwt",
        "ehr_client_id": SMART_CLIENT_ID,
        "ehr_private_key_file": str(key_file),
        "ehr_public_keys_file": str(public_file),
    }


def register_notify(ehr: EhrServer, stack: Stack) -> None:
    """Registers notify at the EHR as Epic needs it: by the URL of its JWK Set, which the
    notify API serves (started here if it is not running)."""
    if not any(key.startswith("notify-api") for key in stack.processes):
        stack.start("notify-api")
    ehr.register_client(
        SMART_CLIENT_ID,
        # Exactly what deploy/README.md tells an EHR to grant: the default scopes must be
        # enough for alerts, the Task follow-up search and escalations.
        scope=DEFAULT_EHR_SCOPES,
        jwks_uri=f"{stack.notify_url}/.well-known/jwks.json",
    )
    ehr.configure_smart(token_lifetime=SMART_TOKEN_LIFETIME)


def create_patient(ehr: EhrServer) -> str:
    with ehr.client() as client:
        reply = client.post("/Patient", json={"resourceType": "Patient", "active": True})
        reply.raise_for_status()
        return f"Patient/{reply.json()['id']}"


def post_response(stack: Stack, answers: dict, patient: str, identifier: str | None = None) -> str:
    resource = make_response(
        answers, patient=patient, identifier=("urn:test", identifier) if identifier else None
    )
    with stack.client() as api:
        reply = api.post("/QuestionnaireResponse", content=orjson.dumps(resource))
        assert reply.status_code in (200, 201), reply.text
        return reply.json()["id"]


def states(database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url) as connection:
        return dict(connection.execute("SELECT id, state FROM questionnaire_response").fetchall())


def wait_for_states(
    database_url: str, ids: list[str], timeout: float, done: Callable[[str], bool] | None = None
) -> dict[str, str]:
    done = done or (lambda state: state in TERMINAL)

    def all_done() -> dict[str, str] | None:
        current = states(database_url)
        return current if all(done(current.get(i, "")) for i in ids) else None

    try:
        return wait_until(all_done, timeout, f"{len(ids)} responses to settle", every=0.5)
    except AssertionError as error:
        current = states(database_url)
        counts = Counter(current.get(i, "missing") for i in ids)
        raise AssertionError(f"{error}; states now: {dict(counts)}") from None


def read_state(stack: Stack, response_id: str) -> tuple[str, list[str]]:
    with stack.client() as api:
        resource = api.get(f"/QuestionnaireResponse/{response_id}").json()
    status = next(
        e
        for e in resource["extension"]
        if e["url"] == "http://neuroscreen.org/fhir/StructureDefinition/screening-status"
    )["extension"]
    state = next(e["valueCode"] for e in status if e["url"] == "state")
    references = [e["valueReference"]["reference"] for e in status if e["url"] == "ehrResource"]
    return state, references


def audit_ehr(ehr: EhrServer, response_ids: list[str]) -> None:
    """Exactly one Task and one Communication per alerting response, each complete."""
    for response_id in response_ids:
        tasks = ehr.search(
            "Task", {"identifier": f"{SCREENING_OUTPUT_IDENTIFIER}|task/{response_id}"}
        )
        communications = ehr.search(
            "Communication",
            {"identifier": f"{SCREENING_OUTPUT_IDENTIFIER}|communication/{response_id}"},
        )
        assert len(tasks) == 1, f"{response_id}: {len(tasks)} Tasks"
        assert len(communications) == 1, f"{response_id}: {len(communications)} Communications"
        # Written in several transactions, the parts still cite each other by EHR id.
        focus = tasks[0]["focus"]["reference"]
        assert focus.startswith("http") or ehr.read_reference(focus), f"{response_id}: {focus}"
        about = {a.get("reference") for a in communications[0]["about"]}
        assert f"Task/{tasks[0]['id']}" in about, f"{response_id}: Communication.about {about}"
