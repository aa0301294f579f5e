"""JSON Schemas of the bodies the intake reads and writes, for its OpenAPI document.

Structural, not the full FHIR definitions: enough for generic tools
(schemathesis, client generators, API gateways) to build valid requests and
check responses. The real checks stay in ``intake.validation``.
"""

from __future__ import annotations

from typing import Any

FHIR_JSON = "application/fhir+json"


def _resource(resource_type: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"type": "string", "enum": [resource_type]},
            "id": {"type": "string"},
            "meta": {"type": "object"},
            **properties,
        },
    }


_REF = {"$ref": "#/components/schemas/Reference"}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Reference": {
        "type": "object",
        "properties": {"reference": {"type": "string"}, "display": {"type": "string"}},
    },
    "Identifier": {
        "type": "object",
        "properties": {"system": {"type": "string"}, "value": {"type": "string"}},
    },
    "QuestionnaireResponseItem": {
        "type": "object",
        "required": ["linkId"],
        "properties": {
            "linkId": {"type": "string"},
            "text": {"type": "string"},
            "answer": {"type": "array", "items": {"type": "object"}},
            "item": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/QuestionnaireResponseItem"},
            },
        },
    },
    "QuestionnaireResponse": {
        **_resource(
            "QuestionnaireResponse",
            questionnaire={"type": "string"},
            status={
                "type": "string",
                "enum": ["in-progress", "completed", "amended", "entered-in-error", "stopped"],
            },
            subject=_REF,
            identifier={"$ref": "#/components/schemas/Identifier"},
            authored={"type": "string"},
            author=_REF,
            source=_REF,
            item={
                "type": "array",
                "items": {"$ref": "#/components/schemas/QuestionnaireResponseItem"},
            },
        ),
        "required": ["resourceType", "status", "questionnaire", "subject"],
    },
    "Bundle": _resource(
        "Bundle",
        type={
            "type": "string",
            "enum": [
                "batch",
                "transaction",
                "batch-response",
                "transaction-response",
                "searchset",
            ],
        },
        total={"type": "integer"},
        link={
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"relation": {"type": "string"}, "url": {"type": "string"}},
            },
        },
        entry={
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "fullUrl": {"type": "string"},
                    "resource": {"type": "object"},
                    "request": {
                        "type": "object",
                        "properties": {
                            "method": {"type": "string", "enum": ["GET", "POST", "PUT", "DELETE"]},
                            "url": {"type": "string"},
                            "ifNoneExist": {"type": "string"},
                        },
                    },
                    "response": {"type": "object"},
                    "search": {"type": "object"},
                },
            },
        },
    ),
    "OperationOutcome": {
        **_resource(
            "OperationOutcome",
            issue={
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": {
                            "type": "string",
                            "enum": ["fatal", "error", "warning", "information"],
                        },
                        "code": {"type": "string"},
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        ),
        "required": ["resourceType", "issue"],
    },
    "TokenRequest": {
        "type": "object",
        "required": ["grant_type", "client_assertion_type", "client_assertion", "scope"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_assertion_type": {
                "type": "string",
                "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
            },
            "client_assertion": {"type": "string"},
            "scope": {"type": "string"},
        },
    },
    "TokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in", "scope"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string"},
            "expires_in": {"type": "integer", "maximum": 300},
            "scope": {"type": "string"},
        },
    },
    "OAuthError": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    },
    "SmartConfiguration": {
        "type": "object",
        "required": ["token_endpoint", "grant_types_supported", "capabilities"],
    },
    "JWKSet": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
    },
}
for _type in (
    "CapabilityStatement",
    "Questionnaire",
    "CodeSystem",
    "RiskAssessment",
    "Observation",
    "ServiceRequest",
    "AuditEvent",
    "Parameters",
):
    SCHEMAS[_type] = _resource(_type)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}
