"""The one client NeuroScreen uses to write to the EHR's FHIR API.

Failures are sorted before anyone retries (after smart-on-fhir's
cumulus-fhir-support): connection errors, timeouts, 408, 429 and 5xx are
:class:`TransientEhrError` (try again later, honouring ``Retry-After``);
any other 4xx is a :class:`FatalEhrError` (retrying cannot help; keep the
EHR's OperationOutcome for a human). Messages name the status and the
OperationOutcome's issue codes, never resource contents.

:class:`EhrAuthFailed` is the fatal failure to sign in (:mod:`notify.ehr_auth`): the token
endpoint refused NeuroScreen, or the EHR answered 401/403 to a fresh token. It is alarmed
apart from other refusals, because every alert fails with it until someone fixes the
registration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
FHIR_JSON = "application/fhir+json"


class EhrError(Exception):
    """The EHR did not accept a write."""

    kind = "error"
    """The outcome recorded on the delivery attempt (and counted in metrics)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        outcome: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.retry_after = retry_after


class TransientEhrError(EhrError):
    """Worth retrying: the EHR was unreachable, slow, overloaded or failing."""

    kind = "transient"


class FatalEhrError(EhrError):
    """Not worth retrying: the EHR refused the content or our credentials."""

    kind = "fatal"


class EhrAuthFailed(FatalEhrError):
    """The EHR does not let NeuroScreen in: a registration, key, secret or scope problem."""

    kind = "auth-failed"

    def __init__(self, message: str, *, error_code: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.error_code = error_code
        """The OAuth ``error`` (``invalid_client``, ``invalid_scope``...), if the EHR gave one."""


@dataclass(frozen=True)
class TransactionResult:
    references: tuple[str, ...]
    """``Type/id`` of every resource in the EHR, in entry order."""


class EhrClient:
    """POSTs transaction Bundles to ``base_url``, signed in by ``auth`` (:mod:`notify.ehr_auth`)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            auth=auth,
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def write_transaction(self, bundle: dict[str, Any], max_entries: int = 0) -> TransactionResult:
        """Write ``bundle``, in steps of at most ``max_entries`` entries if the EHR needs that.

        Some EHRs cap transactions that contain conditional creates (Medplum: 8
        entries). Every reference in an alert points to an earlier entry, so a
        later step can cite what an earlier step wrote by its EHR id. Each step
        is itself a transaction of conditional creates: a retry after a partial
        write finds the earlier steps' resources instead of duplicating them.
        """
        entries = bundle["entry"]
        size = max_entries or len(entries)
        written: dict[str, str] = {}
        references: list[str] = []
        for start in range(0, len(entries), size):
            step = [_cite_written(entry, written) for entry in entries[start : start + size]]
            result = self.post_transaction({**bundle, "entry": step})
            for entry, reference in zip(step, result.references, strict=False):
                written[entry["fullUrl"]] = reference
            references.extend(result.references)
        return TransactionResult(tuple(references))

    def post_transaction(self, bundle: dict[str, Any]) -> TransactionResult:
        try:
            response = self._http.post("", json=bundle)
        except httpx.TimeoutException as error:
            raise TransientEhrError(f"EHR timed out ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise TransientEhrError(f"EHR unreachable ({type(error).__name__})") from None
        if response.is_success:
            return _transaction_result(response)
        outcome = _outcome(response)
        message = f"EHR answered {response.status_code}{_issue_codes(outcome)}"
        if response.status_code in TRANSIENT_STATUSES:
            raise TransientEhrError(
                message,
                status=response.status_code,
                outcome=outcome,
                retry_after=_retry_after(response.headers.get("retry-after")),
            )
        if response.status_code in (401, 403):
            # With SMART, a 401 has already been retried with a fresh token: not a token expiry.
            raise EhrAuthFailed(message, status=response.status_code, outcome=outcome)
        raise FatalEhrError(message, status=response.status_code, outcome=outcome)


def _cite_written(value: Any, written: dict[str, str]) -> Any:
    """Replace placeholders of entries written in an earlier step by their EHR references."""
    if isinstance(value, dict):
        return {
            key: written.get(item, item)
            if key == "reference" and isinstance(item, str)
            else _cite_written(item, written)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_cite_written(item, written) for item in value]
    return value


def _transaction_result(response: httpx.Response) -> TransactionResult:
    try:
        body = response.json()
    except ValueError:
        raise TransientEhrError("EHR answered success without a FHIR body") from None
    references = []
    for entry in body.get("entry", []):
        location = entry.get("response", {}).get("location", "")
        parts = location.split("/_history")[0].rstrip("/").split("/")
        if len(parts) >= 2:
            references.append(f"{parts[-2]}/{parts[-1]}")
    return TransactionResult(tuple(references))


def _outcome(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return body
    return None


def _issue_codes(outcome: dict[str, Any] | None) -> str:
    if not outcome:
        return ""
    codes = sorted({issue.get("code", "?") for issue in outcome.get("issue", [])})
    return f" (issues: {', '.join(codes)})"


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
