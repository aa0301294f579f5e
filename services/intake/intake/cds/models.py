"""CDS Hooks 2.0 bodies, from HL7's logical models (``HL7/cds-hooks``, ``input/fsh/logicals``).

Each class names the StructureDefinition element it mirrors; the invariants
(``cds-resp-1`` ... ``cds-fb-3``) are validators. Incoming bodies
(:class:`CDSHooksRequest`, :class:`CDSHooksFeedback`) allow unknown members,
because the specification lets clients add ``extension`` objects; what
NeuroScreen sends (:class:`CDSHooksServices`, :class:`CDSHooksResponse`)
forbids them, so a misspelt field fails the tests instead of being ignored by
an EHR. ``fhirAuthorization.access_token`` is a :class:`~pydantic.SecretStr`:
it can never end up in a log line or an error message by accident.
"""

# ruff: noqa: N815 - field names are the specification's JSON member names (camelCase)

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AnyUrl, AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Received(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Sent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Coding(_Sent):
    """FHIR Coding as CDS Hooks uses it (``source.topic``, ``overrideReasons``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    system: str | None = None
    code: str = Field(min_length=1)
    display: str | None = None


# --- CDSHooksServices: the discovery response -------------------------------


class Service(_Sent):
    """``CDSHooksServices.services``."""

    hook: str = Field(min_length=1)
    title: str | None = None
    id: str = Field(pattern=r"^[A-Za-z0-9\-\.]{1,64}$")
    description: str = Field(min_length=1)
    usageRequirements: str | None = None
    prefetch: dict[str, str] | None = None


class CDSHooksServices(_Sent):
    services: list[Service]


# --- CDSHooksRequest: a hook call --------------------------------------------


class FhirAuthorization(_Received):
    """``CDSHooksRequest.fhirAuthorization``: the token is secret, never logged."""

    access_token: SecretStr
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class PatientViewContext(_Received):
    """``CDSHookPatientViewContext``."""

    userId: str = Field(min_length=1)
    patientId: str = Field(pattern=r"^[A-Za-z0-9\-\.]{1,64}$")
    encounterId: str | None = None


class CDSHooksRequest(_Received):
    hook: str = Field(min_length=1)
    hookInstance: UUID
    fhirServer: AnyUrl | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, dict[str, Any] | None] | None = None

    @model_validator(mode="after")
    def _cds_r_2(self) -> CDSHooksRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("cds-r-2: fhirServer is required with fhirAuthorization")
        return self

    def patient_view_context(self) -> PatientViewContext:
        return PatientViewContext.model_validate(self.context)


# --- CDSHooksResponse: cards --------------------------------------------------


class Source(_Sent):
    label: str = Field(min_length=1)
    url: AnyUrl | None = None
    icon: AnyUrl | None = None
    topic: Coding | None = None


class Action(_Sent):
    type: Literal["create", "update", "delete"]
    description: str | None = None
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _resource_for_create(self) -> Action:
        if self.type in ("create", "update") and not (self.resource or {}).get("resourceType"):
            raise ValueError("a create or update action carries the FHIR resource")
        return self


class Suggestion(_Sent):
    label: str = Field(min_length=1)
    uuid: UUID | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None
    actionSelectionBehavior: Literal["all", "any", "at-most-one"] | None = None  # cds-resp-7

    @model_validator(mode="after")
    def _cds_resp_5(self) -> Suggestion:
        if any(action.description is None for action in self.actions or ()):
            raise ValueError("cds-resp-5: every suggestion action has a description")
        return self


class Link(_Sent):
    label: str = Field(min_length=1)
    url: AnyUrl
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _cds_resp_3(self) -> Link:
        if self.type != "smart" and self.appContext is not None:
            raise ValueError("cds-resp-3: appContext only for smart links")
        return self


class Card(_Sent):
    uuid: UUID | None = None
    summary: str = Field(min_length=1, max_length=140)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _invariants(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("cds-resp-6: suggestions need a selectionBehavior")
        recommended = [s for s in self.suggestions or () if s.isRecommended]
        if self.selectionBehavior == "at-most-one" and len(recommended) > 1:
            raise ValueError("cds-resp-1: at most one recommended suggestion with at-most-one")
        if any(not reason.display for reason in self.overrideReasons or ()):
            raise ValueError("cds-resp-4: every override reason has a display")
        return self


class CDSHooksResponse(_Sent):
    cards: list[Card]
    systemActions: list[Action] | None = None


# --- CDSHooksFeedback ---------------------------------------------------------


class AcceptedSuggestion(_Received):
    id: UUID


class OverrideReason(_Received):
    reason: Coding | None = None
    userComment: str | None = None

    @model_validator(mode="after")
    def _cds_fb_3(self) -> OverrideReason:
        if self.reason is None and self.userComment is None:
            raise ValueError("cds-fb-3: an overrideReason has a reason, a userComment or both")
        return self


class Feedback(_Received):
    card: UUID
    outcome: Literal["accepted", "overridden"]  # cds-fb-1
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: AwareDatetime

    @model_validator(mode="after")
    def _cds_fb_2(self) -> Feedback:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("cds-fb-2: an accepted outcome lists its acceptedSuggestions")
        return self


class CDSHooksFeedback(_Received):
    feedback: list[Feedback] = Field(min_length=1)
