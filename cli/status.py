"""``neuroscreen status ID``: where one response is in the pipeline.

Its state (``received`` -> ``scored`` -> ``sending`` -> ``notified`` | ``no-alert`` |
``held`` | ``retrying`` | ``dead-letter``, or ``failed``), the screening tier once
scored, and the resources written to the EHR, read from the same API an EHR uses:
the response's screening-status extension and ``RiskAssessment?basis=``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import httpx

from cli.client import CommandFailed, connect, report, request

STATUS_EXTENSION = "http://neuroscreen.org/fhir/StructureDefinition/screening-status"
TIER_SYSTEM = "http://neuroscreen.org/fhir/CodeSystem/screening-tier"
UNSCORED = "received"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status",
        help="a response's pipeline state, screening tier and EHR resources",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    parser.add_argument("id", help="the QuestionnaireResponse id (as `post` printed it)")
    parser.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        default=0,
        help="wait up to SECONDS for the screening result before answering",
    )
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class Status:
    response_id: str
    state: str
    changed: str
    detail: str
    ehr_resources: list[str]
    tier: str | None
    tier_display: str
    risk_assessment: str | None

    def lines(self) -> list[str]:
        when = f" since {self.changed}" if self.changed else ""
        detail = f" ({self.detail})" if self.detail else ""
        tier = (
            f"{self.tier}: {self.tier_display}  [{self.risk_assessment}]"
            if self.tier
            else "not scored yet"
        )
        return [
            f"QuestionnaireResponse/{self.response_id}",
            f"  state: {self.state}{when}{detail}",
            f"  tier:  {tier}",
            f"  EHR:   {', '.join(self.ehr_resources) or 'nothing written to an EHR'}",
        ]


def run(arguments: argparse.Namespace) -> int:
    deadline = time.monotonic() + arguments.wait
    try:
        with connect(arguments) as client:
            status = read_status(client, arguments.id)
            while status.state == UNSCORED and time.monotonic() < deadline:
                time.sleep(0.5)
                status = read_status(client, arguments.id)
    except CommandFailed as error:
        return report(error)
    print("\n".join(status.lines()))
    return 0


def read_status(client: httpx.Client, response_id: str) -> Status:
    if not response_id or "/" in response_id:
        raise CommandFailed(f"{response_id!r} is not a QuestionnaireResponse id")
    resource = request(client, "GET", f"QuestionnaireResponse/{response_id}").json()
    pipeline = _sub_extensions(resource)
    search = request(
        client, "GET", "RiskAssessment", params={"basis": f"QuestionnaireResponse/{response_id}"}
    ).json()
    assessment = next((e["resource"] for e in search.get("entry", [])), None)
    tier = _tier(assessment) if assessment else None
    return Status(
        response_id=response_id,
        state=_first(pipeline, "state", "valueCode") or "unknown",
        changed=_first(pipeline, "changed", "valueInstant"),
        detail=_first(pipeline, "detail", "valueString"),
        ehr_resources=[
            e["valueReference"]["reference"] for e in pipeline if e.get("url") == "ehrResource"
        ],
        tier=tier["code"] if tier else None,
        tier_display=tier.get("display", "") if tier else "",
        risk_assessment=f"RiskAssessment/{assessment['id']}" if assessment else None,
    )


def _sub_extensions(resource: dict[str, Any]) -> list[dict[str, Any]]:
    for extension in resource.get("extension", []):
        if extension.get("url") == STATUS_EXTENSION:
            return extension.get("extension", [])
    return []


def _first(extensions: list[dict[str, Any]], url: str, value: str) -> str:
    return next((e.get(value, "") for e in extensions if e.get("url") == url), "")


def _tier(assessment: dict[str, Any]) -> dict[str, Any] | None:
    for prediction in assessment.get("prediction", [])[:1]:
        for coding in prediction.get("qualitativeRisk", {}).get("coding", []):
            if coding.get("system") == TIER_SYSTEM:
                return coding
    return None
