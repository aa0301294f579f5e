"""The one client NeuroScreen uses to write to the EHR's FHIR API.

Failures are sorted before anyone retries (after smart-on-fhir's
cumulus-fhir-support): connection errors, timeouts, 408, 429 and 5xx are
:class:`TransientEhrError` (try again later, honouring ``Retry-After``);
any other 4xx is a :class:`FatalEhrError` (retrying cannot help; keep the
EHR's OperationOutcome for a human). Two fatal refusals are special.
:class:`TransactionTooLarge` (the EHR caps the entries of a transaction):
:mod:`notify.transactions` splits the transaction and tries again, and the
client remembers the size that worked. :class:`EhrAuthFailed` is the failure to
sign in (:mod:`notify.ehr_auth`): the token endpoint refused NeuroScreen, or the
EHR answered 401/403 to a fresh token. It is alarmed apart from other refusals,
because every alert fails with it until someone fixes the registration.
:class:`ForeignLink`: the EHR handed back a URL on another origin (or more pages
than the cap); it is never followed, so the bearer token only ever goes to the EHR
base's origin (:mod:`notify.ehr_origin`). Messages name the status and the
OperationOutcome's issue codes, never resource contents.

    EhrError
    ├── TransientEhrError
    └── FatalEhrError
        ├── EhrAuthFailed
        ├── ForeignLink
        └── TransactionTooLarge
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from notify.ehr_origin import same_origin

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
FHIR_JSON = "application/fhir+json"

DEFAULT_MAX_TRANSACTION_ENTRIES = 8
"""Entries per transaction when nothing is configured: the smallest cap we know of
(Medplum refuses more than 8 entries next to a conditional create), so an unmodified
Medplum takes every alert without a setting and without a refused first try."""

# "Too many entries" refusals: 413, or a 400/422 whose OperationOutcome says so by its issue
# code (too-costly, too-long) or, since servers code it loosely (Medplum: 'invalid'), by words.
_TOO_LARGE_CODES = frozenset({"too-costly", "too-long"})
_TOO_LARGE_WORDS = re.compile(
    r"(too (many|large|long|big)|exceed|maximum|limit|than allowed).*(entr|operation|bundle)"
    r"|(entr|operation|bundle).*(too (many|large|long|big)|exceed|maximum|limit|than allowed)",
    re.IGNORECASE,
)


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


class ForeignLink(FatalEhrError):
    """A URL from the EHR that notify will not follow: another origin, or past the page cap."""


class TransactionTooLarge(FatalEhrError):
    """The EHR refused a transaction for its number of entries: smaller ones may pass."""


@dataclass(frozen=True)
class TransactionResult:
    references: tuple[str, ...]
    """``Type/id`` of every resource in the EHR, in entry order."""
    by_full_url: dict[str, str] = field(default_factory=dict)
    """The EHR's ``Type/id`` for each entry's ``fullUrl`` placeholder."""


class EhrClient:
    """POSTs transaction Bundles to ``base_url``, signed in by ``auth`` (:mod:`notify.ehr_auth`).

    Notify keeps one client per EHR for the life of the process, so the transaction
    size learned from one refusal holds for every later alert to that EHR.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout: float,
        max_search_pages: int = 1000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
        self.max_search_pages = max_search_pages
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            auth=auth,
            timeout=timeout,
            transport=transport,
        )
        self.learned_max_entries: int | None = None
        """Set by the first "too many entries" refusal (:mod:`notify.transactions`): the
        most this EHR accepted since."""

    def close(self) -> None:
        self._http.close()

    def post_transaction(self, bundle: dict[str, Any]) -> TransactionResult:
        try:
            response = self._http.post("", json=bundle)
        except httpx.TimeoutException as error:
            raise TransientEhrError(f"EHR timed out ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise TransientEhrError(f"EHR unreachable ({type(error).__name__})") from None
        if response.is_success:
            return _transaction_result(response)
        raise _sorted_error(response)

    def search(self, resource_type: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every ``resource_type`` match of a search, following the ``next`` links.

        Errors are sorted like writes (a 5xx or timeout is transient). Entries of other
        types (``_include``, an OperationOutcome with search mode ``outcome``) are skipped.
        A ``next`` link off the EHR base's origin, or one page more than
        ``max_search_pages``, is :class:`ForeignLink`: nothing is sent.
        """
        found: list[dict[str, Any]] = []
        url: str | None = resource_type
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        while url is not None and url not in seen:
            if len(seen) == self.max_search_pages:
                raise ForeignLink(
                    f"EHR search of {resource_type} has more than {self.max_search_pages} pages "
                    "(NEUROSCREEN_EHR_MAX_SEARCH_PAGES)"
                )
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
        request = self._http.build_request("GET", url, params=params)
        if not same_origin(request.url, self._http.base_url):
            # Only the origin is named: the link's path and query may carry search values.
            raise ForeignLink(
                f"EHR handed back a link to {request.url.scheme}://{request.url.netloc.decode()}, "
                "not the EHR base's origin: not followed"
            )
        try:
            response = self._http.send(request)
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
    """The error for a failed answer, for writes and searches alike."""
    outcome = _outcome(response)
    status = response.status_code
    message = f"EHR answered {status}{_issue_codes(outcome)}"
    if status in TRANSIENT_STATUSES:
        return TransientEhrError(
            message,
            status=status,
            outcome=outcome,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
    if status in (401, 403):
        # With SMART, a 401 has already been retried with a fresh token: not a token expiry.
        return EhrAuthFailed(message, status=status, outcome=outcome)
    if _refused_as_too_large(status, outcome):
        return TransactionTooLarge(message, status=status, outcome=outcome)
    return FatalEhrError(message, status=status, outcome=outcome)


def _refused_as_too_large(status: int, outcome: dict[str, Any] | None) -> bool:
    """Whether a refusal is about the transaction's size, not its content.

    413 always is. A 400 or 422 is when its OperationOutcome says so: issue code
    ``too-costly``/``too-long``, or (servers code it loosely, Medplum as ``invalid``)
    an issue text about too many entries or operations in the transaction.
    """
    if status == 413:
        return True
    if status not in (400, 422) or not outcome:
        return False
    issues = [issue for issue in outcome.get("issue", []) if isinstance(issue, dict)]
    if any(issue.get("code") in _TOO_LARGE_CODES for issue in issues):
        return True
    texts = (
        f"{i.get('diagnostics', '')} {(i.get('details') or {}).get('text', '')}" for i in issues
    )
    return any(_TOO_LARGE_WORDS.search(text) for text in texts)


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
