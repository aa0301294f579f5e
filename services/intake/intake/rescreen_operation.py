"""``$rescreen`` in FHIR terms: its ``Parameters`` in, its status and report out.

In: ``knowledgeVersion`` (string, required), ``since`` / ``until`` (dateTime with a time
zone, or a date meaning its midnight UTC; stored-time window, until exclusive) and
``dryRun`` (boolean, default **true**: an apply must be asked for). Out: a ``Parameters``
with the run's progress (``status``, ``done``, ``total``, ``ratePerSecond``,
``etaSeconds``) and, as the run goes, one ``transition`` per tier change (``from``,
``to``, ``count``, ``summary`` "low -> urgent: 12" and a ``response`` reference each),
``unchanged`` counts per tier, ``alert`` references (apply: sent to notify; dry run:
would be) and ``skipped`` responses with their reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from shared.fhir.outcome import BadRequest, Issue

VERSION = re.compile(r"\d+\.\d+\.\d+")
_TIME_TYPES = ("valueDateTime", "valueInstant", "valueDate")


@dataclass(frozen=True)
class RescreenRequest:
    knowledge_version: str
    since: datetime | None
    until: datetime | None
    dry_run: bool


def parse_request(body: bytes) -> RescreenRequest:
    """The operation's input; every problem in one 400 OperationOutcome."""
    try:
        resource = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"The body is not JSON: {error}") from None
    if not isinstance(resource, dict) or resource.get("resourceType") != "Parameters":
        raise BadRequest(
            "Send a Parameters resource", issues=[_issue("Parameters", "resourceType")]
        )
    values: dict[str, dict[str, Any]] = {}
    issues: list[Issue] = []
    given = resource.get("parameter") or []
    if not isinstance(given, list):
        raise BadRequest(
            "parameter must be a list", issues=[_issue("a list", "Parameters.parameter")]
        )
    for index, parameter in enumerate(given):
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if name not in ("knowledgeVersion", "since", "until", "dryRun"):
            issues.append(_issue(f"unknown parameter {name!r}", f"Parameters.parameter[{index}]"))
        elif name in values:
            issues.append(_issue(f"{name} given twice", f"Parameters.parameter[{index}]"))
        else:
            values[name] = parameter | {"_index": index}
    version = _version(values.get("knowledgeVersion"), issues)
    since = _instant(values.get("since"), issues)
    until = _instant(values.get("until"), issues)
    dry_run = values.get("dryRun", {}).get("valueBoolean", True)
    if not isinstance(dry_run, bool):
        issues.append(_issue("dryRun must be a valueBoolean", _where(values["dryRun"])))
    if since and until and since >= until:
        issues.append(_issue("since must be before until", _where(values["until"])))
    if issues:
        raise BadRequest("Invalid $rescreen parameters", issues=issues)
    return RescreenRequest(version or "", since, until, dry_run)


def status_parameters(report: dict[str, Any]) -> dict[str, Any]:
    """A run's progress and (so far) its report as a ``Parameters`` resource."""
    parameters: list[dict[str, Any]] = [
        {"name": "status", "valueCode": report["status"]},
        {"name": "knowledgeVersion", "valueString": report["knowledgeVersion"]},
        {"name": "dryRun", "valueBoolean": report["dryRun"]},
        {"name": "done", "valueInteger": report["done"]},
        {"name": "total", "valueInteger": report["total"]},
        {"name": "ratePerSecond", "valueDecimal": report["ratePerSecond"]},
    ]
    if report.get("etaSeconds") is not None:
        parameters.append({"name": "etaSeconds", "valueDecimal": report["etaSeconds"]})
    for key, entry in report.get("transitions", {}).items():
        from_tier, _, to_tier = key.partition(" -> ")
        parameters.append(
            {
                "name": "transition",
                "part": [
                    {"name": "from", "valueCode": from_tier},
                    {"name": "to", "valueCode": to_tier},
                    {"name": "count", "valueInteger": entry["count"]},
                    {"name": "summary", "valueString": f"{key}: {entry['count']}"},
                    *(_response("response", i) for i in entry["responses"]),
                ],
            }
        )
    for tier, count in report.get("unchanged", {}).items():
        parameters.append(
            {
                "name": "unchanged",
                "part": [
                    {"name": "tier", "valueCode": tier},
                    {"name": "count", "valueInteger": count},
                ],
            }
        )
    parameters.extend(_response("alert", i) for i in report.get("alerts", []))
    for reason, ids in report.get("skipped", {}).items():
        parameters.append(
            {
                "name": "skipped",
                "part": [
                    {"name": "reason", "valueCode": reason},
                    *(_response("response", i) for i in ids),
                ],
            }
        )
    return {"resourceType": "Parameters", "parameter": parameters}


def progress_header(report: dict[str, Any]) -> str:
    """``X-Progress`` while running, e.g. "120/700 done, 35.2/s, about 16 s left"."""
    text = f"{report['done']}/{report['total']} done, {report['ratePerSecond']}/s"
    if report.get("etaSeconds") is not None:
        text += f", about {round(report['etaSeconds'])} s left"
    return text


def _response(name: str, response_id: str) -> dict[str, Any]:
    return {"name": name, "valueReference": {"reference": f"QuestionnaireResponse/{response_id}"}}


def _version(parameter: dict[str, Any] | None, issues: list[Issue]) -> str | None:
    if parameter is None:
        issues.append(_issue("knowledgeVersion is required (e.g. 2.1.0)", "Parameters.parameter"))
        return None
    value = parameter.get("valueString", parameter.get("valueCode", parameter.get("valueId")))
    if not isinstance(value, str) or not VERSION.fullmatch(value):
        issues.append(_issue("knowledgeVersion must be a version such as 2.1.0", _where(parameter)))
        return None
    return value


def _instant(parameter: dict[str, Any] | None, issues: list[Issue]) -> datetime | None:
    if parameter is None:
        return None
    value = next((parameter[k] for k in _TIME_TYPES if k in parameter), None)
    try:
        if isinstance(value, str) and len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        issues.append(
            _issue(
                f"{parameter['name']} must be a date or a dateTime with a time zone",
                _where(parameter),
            )
        )
        return None
    return moment.astimezone(UTC)


def _where(parameter: dict[str, Any]) -> str:
    return f"Parameters.parameter[{parameter['_index']}]"


def _issue(text: str, expression: str) -> Issue:
    return Issue(code="invalid", diagnostics=text, expression=expression)
