"""A real CDS Hooks service for a test module: intake, screening and notify workers, the
notify admin API, PostgreSQL and Redis, with patients screened by the real pipeline.

The EHR (:class:`support.cds.CdsEhr`) is registered in a YAML issuers file with
its ES384 public key behind a ``jwks_uri``. One patient per tier: ``urgent``,
``high`` and ``moderate`` from answer sets the current knowledge base puts in
that tier, ``low`` with no nerve symptoms.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from fixtures.answers import EGPA_FOOT_DROP, NOTHING_WRONG
from joserfc.jwk import RSAKey

from screening.engine.evaluation import evaluate
from screening.knowledge.loader import load_knowledge
from shared.migrate import upgrade
from support.cds import CdsEhr
from support.pipeline import post_response, wait_for_states
from support.services import _create_postgres_database, _drop_postgres_database
from support.smart import ec_key, jwks_server, public_jwks, rsa_key
from support.stack import Stack

EHR_ISSUER = "https://ehr.example.org"
EHR_ORIGIN = "https://ehr.example.org"
TIERS = ("urgent", "high", "moderate", "low")
VIGNETTES = Path(__file__).resolve().parents[1] / "screening" / "vignettes.yaml"


def answers_in_tier(tier: str) -> dict[str, Any]:
    """An answer set the current knowledge base puts in ``tier``."""
    if tier == "urgent":
        return EGPA_FOOT_DROP
    if tier == "low":
        return NOTHING_WRONG
    knowledge = load_knowledge()
    for vignette in yaml.safe_load(VIGNETTES.read_text()):
        answers = {
            k: tuple(v) if isinstance(v, list) else v for k, v in vignette["answers"].items()
        }
        if evaluate(answers, knowledge).tier == tier:
            return answers
    raise AssertionError(f"no vignette lands in tier {tier}")


@dataclass
class CdsService:
    stack: Stack
    ehr: CdsEhr
    database_url: str
    patients: dict[str, str]
    """Patient id by tier."""
    responses: dict[str, str]
    """QuestionnaireResponse id by tier."""
    rsa_key: RSAKey
    """A second key the EHR publishes at its jwks_uri (RS384, the other allowed algorithm)."""

    def stored(self, tier: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The RiskAssessment and ServiceRequests the FHIR API serves for the tier's patient."""
        basis = f"QuestionnaireResponse/{self.responses[tier]}"
        with self.stack.client() as api:
            bundle = api.get("/RiskAssessment", params={"basis": basis}).json()
            (risk,) = [entry["resource"] for entry in bundle["entry"]]
            patient = f"Patient/{self.patients[tier]}"
            requests = api.get("/ServiceRequest", params={"patient": patient, "_count": "100"})
        return risk, [entry["resource"] for entry in requests.json().get("entry", [])]

    def screen(self, answers: dict[str, Any], patient_id: str) -> str:
        response = post_response(self.stack, answers, f"Patient/{patient_id}")
        wait_for_states(self.database_url, [response], 60)
        return response

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.notify_url,
            headers={"Authorization": f"Bearer {self.stack.env['NEUROSCREEN_INTAKE_TOKENS']}"},
            timeout=30,
        )


def start_cds_service(postgres_server: str, redis_server: str, tmp: Path) -> Iterator[CdsService]:
    key, second = ec_key("ehr-cds-1"), rsa_key("ehr-cds-2")
    name, url = _create_postgres_database(postgres_server)
    upgrade(url)
    with jwks_server(public_jwks(key, second)) as keys:
        issuers = tmp / "cds-issuers.yaml"
        issuers.write_text(yaml.safe_dump([{"iss": EHR_ISSUER, "jwks_uri": keys.url}]))
        stack = Stack.create(
            url,
            redis_server,
            tmp,
            cds_issuers_file=str(issuers),
            cds_allowed_origins=f"{EHR_ORIGIN},https://other-ehr.example.org",
        )
        try:
            for process in ("intake", "relay", "screening", "notify", "notify-api"):
                stack.start(process)
            patients = {tier: f"cds-{tier}-{uuid.uuid4().hex[:8]}" for tier in TIERS}
            responses = {
                tier: post_response(stack, answers_in_tier(tier), f"Patient/{patients[tier]}")
                for tier in TIERS
            }
            wait_for_states(url, list(responses.values()), 60)
            root = stack.base_url.removesuffix("/fhir")
            ehr = CdsEhr(key, EHR_ISSUER, root)
            yield CdsService(stack, ehr, url, patients, responses, second)
        finally:
            stack.stop_all()
            _drop_postgres_database(postgres_server, name)
