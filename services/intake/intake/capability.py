"""The CapabilityStatement: exactly what this server implements, nothing more.

Each searchable resource declares its parameters here and in its router; a
test checks that every declared interaction and parameter really answers.
"""

from __future__ import annotations

from typing import Any

from intake import responses
from intake.questionnaire import ACCEPTED_VERSIONS, CANONICAL, VERSION
from intake.routers.smart import TOKEN_PATH
from shared.trust.scopes import ADMIN_SCOPE

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SOFTWARE_VERSION = "1.0.0"
FHIR_VERSION = "4.0.1"

_PARAM_DOCS = {
    "_id": "Logical id",
    "patient": "The patient the response is about (Patient/<id>)",
    "subject": "The subject (Patient/<id>)",
    "identifier": "The EHR's business identifier (system|value)",
    "basis": "The QuestionnaireResponse or Observation the assessment is based on",
    "code": "The coded test or observation",
}

_SEARCH_DEFINITIONS = {
    "_id": "http://hl7.org/fhir/SearchParameter/Resource-id",
    "patient": "http://hl7.org/fhir/SearchParameter/clinical-patient",
    "subject": "http://hl7.org/fhir/SearchParameter/QuestionnaireResponse-subject",
    "identifier": "http://hl7.org/fhir/SearchParameter/QuestionnaireResponse-identifier",
    "basis": "http://neuroscreen.org/fhir/SearchParameter/RiskAssessment-basis",
    "code": "http://hl7.org/fhir/SearchParameter/clinical-code",
}


def _search_params(params: dict[str, str]) -> list[dict[str, Any]]:
    declared = [
        {
            "name": name,
            "definition": _SEARCH_DEFINITIONS.get(name, ""),
            "type": kind,
            "documentation": _PARAM_DOCS.get(name, name),
        }
        for name, kind in params.items()
    ]
    declared.append(
        {
            "name": "_lastUpdated",
            "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
            "type": "date",
            "documentation": "When the resource was stored (eq, gt, ge, lt, le prefixes)",
        }
    )
    return [{k: v for k, v in p.items() if v} for p in declared]


def _resource(kind: str, interactions: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "interaction": [{"code": code} for code in interactions],
        "versioning": "versioned",
        "readHistory": False,
        "updateCreate": False,
        **extra,
    }


def _security(base_url: str) -> dict[str, Any]:
    """SMART-on-FHIR, with the token endpoint in the oauth-uris extension."""
    return {
        "cors": False,
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [{"url": "token", "valueUri": f"{base_url}{TOKEN_PATH}"}],
            }
        ],
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                        "display": "SMART-on-FHIR",
                    }
                ],
                "text": "SMART Backend Services (client credentials, private_key_jwt)",
            }
        ],
        "description": (
            "Every interaction except GET /metadata requires Authorization: Bearer <token>: "
            "an access token from the token endpoint (scopes per interaction, SMART v1 or v2), "
            "or a static token of NEUROSCREEN_INTAKE_TOKENS. Discovery: "
            f"{base_url}/.well-known/smart-configuration"
        ),
    }


REPORT_OPERATION = {
    "name": "report",
    "definition": "http://neuroscreen.org/fhir/OperationDefinition/RiskAssessment-report",
    "documentation": (
        "GET RiskAssessment/{id}/$report: the screening report, text/html or application/pdf "
        "by Accept (406 otherwise)"
    ),
}


def capability_statement(
    base_url: str, derived_search: dict[str, dict[str, str]] | None = None
) -> dict[str, Any]:
    """Build the statement; ``derived_search`` adds the screening-output resources."""
    resources = [
        _resource(
            "QuestionnaireResponse",
            ["create", "read", "search-type"],
            conditionalCreate=True,
            searchParam=_search_params(responses.SEARCH_PARAMETERS),
            documentation=(
                "Validated against the screening Questionnaire; stored and queued for "
                "screening in one transaction. The identifier is an idempotency key."
            ),
            operation=[
                {
                    "name": "rescreen",
                    "definition": "http://neuroscreen.org/fhir/OperationDefinition/rescreen",
                    "documentation": (
                        f"Re-screen stored responses under a knowledge version (Parameters: "
                        f"knowledgeVersion, since, until, dryRun); asynchronous (202 + "
                        f"Content-Location); needs the {ADMIN_SCOPE} scope"
                    ),
                }
            ],
        ),
        _resource(
            "Questionnaire",
            ["read", "search-type"],
            searchParam=[
                {"name": "url", "type": "uri", "documentation": "Canonical URL"},
                {"name": "version", "type": "token", "documentation": "Business version"},
            ],
            documentation=(
                f"Serves the screening Questionnaire {CANONICAL}|{VERSION}; a "
                f"QuestionnaireResponse may cite it bare or with version "
                f"{' or '.join(ACCEPTED_VERSIONS)}"
            ),
        ),
        _resource(
            "CodeSystem",
            ["read", "search-type"],
            searchParam=[{"name": "url", "type": "uri", "documentation": "Canonical URL"}],
            documentation="The project's CodeSystems (tiers, patterns, workup, answers, tasks)",
        ),
    ]
    resources.append(
        _resource(
            "AuditEvent",
            ["read", "search-type"],
            searchParam=[
                {"name": "date", "type": "date", "documentation": "When recorded (prefixes)"},
                {"name": "agent", "type": "token", "documentation": "The client id"},
                {"name": "entity-type", "type": "token", "documentation": "Resource type"},
                {"name": "patient", "type": "reference", "documentation": "Patient/<id>"},
            ],
            documentation=f"The audit trail (IHE BALP); needs the {ADMIN_SCOPE} scope",
        )
    )
    for kind, params in (derived_search or {}).items():
        extra = {"operation": [REPORT_OPERATION]} if kind == "RiskAssessment" else {}
        resources.append(
            _resource(
                kind,
                # A re-screen makes new versions; earlier ones stay readable.
                ["read", "vread", "history-instance", "search-type"],
                readHistory=True,
                searchParam=_search_params(params),
                documentation="Screening output derived by NeuroScreen (decision support)",
                **extra,
            )
        )
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-26",
        "publisher": "NeuroScreen",
        "kind": "instance",
        "software": {"name": "NeuroScreen intake", "version": SOFTWARE_VERSION},
        "implementation": {"description": "NeuroScreen intake FHIR API", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(base_url),
                "resource": resources,
                "interaction": [{"code": "batch"}, {"code": "transaction"}],
            }
        ],
    }
