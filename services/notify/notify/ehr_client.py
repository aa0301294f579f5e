"""The one client NeuroScreen uses to write to the EHR's FHIR API.

Failures are sorted before anyone retries (after smart-on-fhir's
cumulus-fhir-support): connection errors, timeouts, 408, 429 and 5xx are
:class:`TransientEhrError` (try again later, honouring ``Retry-After``);
any other 4xx is a :class:`FatalEhrError` (retrying cannot help; keep the
EHR's OperationOutcome for a human). Messages name the status and the
OperationOutcome's issue codes, never resource contents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
FHIR_JSON = "application/fhir+json"


class EhrError(Exception):
    """The EHR did not accept a write."""

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


class FatalEhrError(EhrError):
    """Not worth retrying: the EHR refused the content or our credentials."""


@dataclass(frozen=True)
class TransactionResult:
    references: tuple[str, ...]
    """``Type/id`` of every resource in the EHR, in entry order."""


class EhrClient:
    """POSTs transaction Bundles to ``base_url`` with a static bearer token."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
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
        raise FatalEhrError(message, status=response.status_code, outcome=outcome)

    def search(self, resource_type: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every ``resource_type`` match of a search, following the ``next`` links.

        Errors are sorted like writes (a 5xx or timeout is transient). Entries of other
        types (``_include``, an OperationOutcome with search mode ``outcome``) are skipped.
        """
        found: list[dict[str, Any]] = []
        url: str | None = resource_type
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        while url is not None and url not in seen:
            seen.add(url)
            body = self._get(url, query)
            found.extend(
                entry["resource"]
                for entry in body.get("entry", [])
                if entry.get("resource", {}).get("resourceType") == resource_type
            )
            url = next(
                (link["url"] for link in body.get("link", []) if link.get("relation") == "next"),
                None,
            )
            query = None  # a next link carries its own query
        return found

    def _get(self, url: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        try:
            response = self._http.get(url, params=params)
        except httpx.TimeoutException as error:
            raise TransientEhrError(f"EHR timed out ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise TransientEhrError(f"EHR unreachable ({type(error).__name__})") from None
        if not response.is_success:
            raise _sorted_error(response)
        try:
            return response.json()
        except ValueError:
            raise TransientEhrError("EHR answered a search without a FHIR body") from None


def _sorted_error(response: httpx.Response) -> EhrError:
    """The error for a failed answer: transient (retry later) or fatal (a human must look)."""
    outcome = _outcome(response)
    message = f"EHR answered {response.status_code}{_issue_codes(outcome)}"
    if response.status_code in TRANSIENT_STATUSES:
        return TransientEhrError(
            message,
            status=response.status_code,
            outcome=outcome,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
    return FatalEhrError(message, status=response.status_code, outcome=outcome)


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
