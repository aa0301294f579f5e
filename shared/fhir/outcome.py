"""OperationOutcome: how every failure is told to a FHIR client.

Errors carry their HTTP status and a list of :class:`Issue`; one handler in
each HTTP service renders them. Issue text never contains answer values,
names or identifiers (no PHI): it names the element (``expression``) and the
rule that was broken.

Exception hierarchy::

    FhirError                      any error with an HTTP status and issues
    ├── BadRequest          400    unparseable, or not valid FHIR R4
    ├── Unauthorized        401
    ├── Forbidden           403    the token's scopes do not cover the interaction
    ├── NotFound            404
    ├── MethodNotAllowed    405
    ├── Conflict            409    the database refused a write as conflicting with stored data
    ├── PreconditionFailed  412    conditional create matched several
    ├── PayloadTooLarge     413
    ├── UnsupportedMediaType 415
    ├── Unprocessable       422    valid FHIR that breaks the Questionnaire
    ├── TooManyRequests     429    a client over its rate limit (with Retry-After)
    └── ServiceUnavailable  503    a dependency (database) is unreachable
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue; ``code`` is from the FHIR issue-type value set."""

    code: str
    diagnostics: str
    expression: str | None = None
    severity: Severity = "error"

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


def operation_outcome(issues: list[Issue] | tuple[Issue, ...]) -> dict[str, Any]:
    """An OperationOutcome resource holding ``issues``."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


def information(text: str) -> dict[str, Any]:
    """A one-issue informational OperationOutcome (e.g. for ``Prefer: return=OperationOutcome``)."""
    return operation_outcome(
        [Issue(code="informational", diagnostics=text, severity="information")]
    )


class FhirError(Exception):
    """An error a FHIR client sees as an HTTP status with an OperationOutcome."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "exception"

    def __init__(
        self,
        message: str | None = None,
        *,
        issues: list[Issue] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        text = message or self.__class__.__name__
        self.issues = issues or [Issue(code=self.default_code, diagnostics=text)]
        self.headers = headers or {}
        super().__init__(text)

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)


class BadRequest(FhirError):
    status = 400
    default_code = "structure"


class Unauthorized(FhirError):
    status = 401
    default_code = "login"


class Forbidden(FhirError):
    status = 403
    default_code = "forbidden"


class NotFound(FhirError):
    status = 404
    default_code = "not-found"


class MethodNotAllowed(FhirError):
    status = 405
    default_code = "not-supported"


class Conflict(FhirError):
    status = 409
    default_code = "conflict"


class PreconditionFailed(FhirError):
    status = 412
    default_code = "multiple-matches"


class PayloadTooLarge(FhirError):
    status = 413
    default_code = "too-costly"


class UnsupportedMediaType(FhirError):
    status = 415
    default_code = "not-supported"


class Unprocessable(FhirError):
    status = 422
    default_code = "processing"


class TooManyRequests(FhirError):
    status = 429
    default_code = "throttled"


class ServiceUnavailable(FhirError):
    status = 503
    default_code = "transient"
