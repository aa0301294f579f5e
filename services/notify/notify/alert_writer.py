"""Writing one alert: the attachments first, then the alert itself, which must get through.

The Task and the Communication *are* the alert; the copy of the response, the
DN4 Observation, the RiskAssessment and the ServiceRequests are attachments.
An EHR may refuse an attachment with a 4xx (its validator, a profile, a
resource type it does not take). That never holds up the alert: the refused
attachment is left out, whatever cited it cites NeuroScreen's own copy instead
(an absolute URL on NeuroScreen's FHIR API, ``NEUROSCREEN_PUBLIC_BASE_URL``;
without one, a logical reference by the attachment's identifier), the
Communication and the Task say so, and the refusal is returned for the delivery
to record. Transient errors, a refused Task or Communication and every sign-in
failure propagate unchanged: retry, or dead letter.

A sign-in failure (:class:`~notify.ehr_client.EhrAuthFailed`: 401 after a fresh
token, 403, the token endpoint's refusal) is never a refused attachment, not even
a 403 for a scope NeuroScreen lacks on one resource type (``system/RiskAssessment.c``
missing from the registration): that is a registration to fix, and citing our copy
instead would hide it. The whole delivery fails as ``auth-failed`` and is alarmed.

Exactly once still holds: every entry is a conditional create on a stable
identifier, so each retry finds what an earlier try stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notify.ehr_client import EhrAuthFailed, EhrClient, FatalEhrError
from notify.transactions import Acknowledged, write_in_steps
from shared.fhir.narrative import with_narrative

ALERT_TYPES = frozenset({"Task", "Communication"})
"""The resources that are the alert; every other entry is an attachment."""


@dataclass(frozen=True)
class Refusal:
    """An attachment the EHR refused, with the EHR's reasons (no resource content).

    :func:`notify.retries.record_refusals` keeps it as a
    :class:`shared.models.RefusedAttachment` row.
    """

    resource_type: str
    local_reference: str | None
    """Its address on NeuroScreen's FHIR API (``RiskAssessment/<id>``), if known."""
    status: int | None
    outcome: dict[str, Any] | None


@dataclass(frozen=True)
class AlertWriteResult:
    references: tuple[str, ...]
    """``Type/id`` in the EHR of everything written, attachments first."""
    refused: tuple[Refusal, ...]


def write_alert(
    client: EhrClient,
    bundle: dict[str, Any],
    *,
    max_entries: int,
    public_base_url: str,
    acknowledged: Acknowledged | None = None,
) -> AlertWriteResult:
    """Write the alert Bundle built by :func:`notify.alert_bundle.build_alert_bundle`.

    Entries in ``acknowledged`` (an earlier attempt's) are cited, not sent again; the
    entries this attempt gets acknowledged are added to it as they are, failure or not.
    """
    acknowledged = acknowledged if acknowledged is not None else Acknowledged()
    entries = bundle["entry"]
    attachments = [e for e in entries if e["resource"]["resourceType"] not in ALERT_TYPES]
    alert = [e for e in entries if e["resource"]["resourceType"] in ALERT_TYPES]
    refused: list[Refusal] = []
    stand_ins: dict[str, dict[str, Any]] = {}
    if attachments:
        try:
            write_in_steps(client, _transaction(attachments), max_entries, acknowledged)
        except FatalEhrError as error:
            if not _refuses_content(error):
                raise
            # Which one? One by one: the accepted ones land (or are found again).
            for entry in attachments:
                refusal = _write_one(client, entry, acknowledged, stand_ins, max_entries)
                if refusal is not None:
                    refused.append(refusal)
                    stand_ins[entry["fullUrl"]] = _stand_in(entry, public_base_url)
    sent = alert
    if refused:
        sent = [_with_refusal_note(e, refused, entries, public_base_url) for e in alert]
    write_in_steps(client, _transaction(sent), max_entries, acknowledged, stand_ins)
    return AlertWriteResult(acknowledged.references(entries), tuple(refused))


def _write_one(
    client: EhrClient,
    entry: dict[str, Any],
    acknowledged: Acknowledged,
    stand_ins: Mapping[str, dict[str, Any]],
    max_entries: int,
) -> Refusal | None:
    """Write one attachment; its refusal if the EHR refuses its content."""
    try:
        write_in_steps(client, _transaction([entry]), max_entries, acknowledged, stand_ins)
    except FatalEhrError as refusal:
        if not _refuses_content(refusal):
            raise
        return _refusal(entry, refusal)
    return None


def _refuses_content(error: FatalEhrError) -> bool:
    """A 4xx about what was sent, not about who sent it (401/403: nothing else would pass)."""
    if isinstance(error, EhrAuthFailed) or error.status in (401, 403):
        return False
    return error.status is not None and 400 <= error.status < 500


def _transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    # The alternate links are NeuroScreen's bookkeeping, not the EHR's business.
    sent = [{k: v for k, v in entry.items() if k != "link"} for entry in entries]
    return {"resourceType": "Bundle", "type": "transaction", "entry": sent}


def _local_reference(entry: Mapping[str, Any]) -> str | None:
    """The entry's address on NeuroScreen (its ``alternate`` link), if the bundle has one."""
    links = entry.get("link", [])
    return next((link["url"] for link in links if link.get("relation") == "alternate"), None)


def _neuroscreen_url(entry: Mapping[str, Any], public_base_url: str) -> str | None:
    local = _local_reference(entry)
    return f"{public_base_url.rstrip('/')}/{local}" if local and public_base_url else None


def _stand_in(entry: dict[str, Any], public_base_url: str) -> dict[str, Any]:
    """A Reference to NeuroScreen's copy of a refused attachment.

    Absolute URL when the public base URL is known; always the identifier too, so the
    reference stays meaningful (a logical reference) when it is not.
    """
    resource = entry["resource"]
    identifier = resource.get("identifier")
    identifier = identifier[0] if isinstance(identifier, list) else identifier
    reference: dict[str, Any] = {"type": resource["resourceType"]}
    url = _neuroscreen_url(entry, public_base_url)
    if url:
        reference["reference"] = url
    if identifier:
        reference["identifier"] = identifier
    reference["display"] = f"{resource['resourceType']} kept by NeuroScreen (the EHR refused it)"
    return reference


def _refusal(entry: dict[str, Any], error: FatalEhrError) -> Refusal:
    return Refusal(
        resource_type=entry["resource"]["resourceType"],
        local_reference=_local_reference(entry),
        status=error.status,
        outcome=error.outcome,
    )


def _refusal_note(
    refused: list[Refusal], entries: list[dict[str, Any]], public_base_url: str
) -> str:
    """What the coordinator reads: which parts are missing, and where the whole result is."""
    kinds = ", ".join(sorted({r.resource_type for r in refused}))
    risk = next((e for e in entries if e["resource"]["resourceType"] == "RiskAssessment"), None)
    url = _neuroscreen_url(risk, public_base_url) if risk else None
    if url:
        where = f"The full result is on NeuroScreen: {url}"
    else:
        identifier = (risk or {}).get("resource", {}).get("identifier", [{}])[0].get("value")
        where = f"The full result is kept by NeuroScreen (RiskAssessment {identifier})."
    return f"This EHR did not accept part of the screening result ({kinds}). {where}"


def _with_refusal_note(
    entry: dict[str, Any],
    refused: list[Refusal],
    entries: list[dict[str, Any]],
    public_base_url: str,
) -> dict[str, Any]:
    resource = dict(entry["resource"])
    note = _refusal_note(refused, entries, public_base_url)
    if resource["resourceType"] == "Communication":
        resource["payload"] = [*resource.get("payload", []), {"contentString": note}]
    else:
        resource["note"] = [*resource.get("note", []), {"text": note}]
    return {**entry, "resource": with_narrative(resource)}  # the reader sees the note too
