"""Writing a Bundle as transactions the EHR takes, and resuming after a partial write.

An alert is more entries than one transaction may hold (Medplum: 8 next to a
conditional create), so it is written in steps. Each step the EHR answers is
*acknowledged*: its entries' EHR ids (``Task/123``) are kept in
:class:`Acknowledged`, by the entry's ``fullUrl``. A later step, or a later
attempt (the delivery keeps the record: :mod:`notify.delivery`), cites an
acknowledged entry by that id and never sends it again, so an attempt after a
503 sends only the rest of the alert.

A step stored but not acknowledged (the EHR stored it, then answered 503; a
timeout) is sent again: every entry is a conditional create on a stable
identifier, so the EHR finds what it stored instead of creating it twice.
Acknowledgements are keyed by ``fullUrl`` placeholders, which are fixed when
the delivery opens: a Bundle built anew has new ones, and resumes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from notify.ehr_client import (
    DEFAULT_MAX_TRANSACTION_ENTRIES,
    EhrClient,
    TransactionResult,
    TransactionTooLarge,
)

log = logging.getLogger("neuroscreen.notify")


@dataclass
class Acknowledged:
    """What the EHR has acknowledged of one Bundle: its ``Type/id`` for each ``fullUrl``.

    Filled in step by step while an attempt runs, so that what was acknowledged before a
    failure is still known after it.
    """

    by_full_url: dict[str, str] = field(default_factory=dict)

    def cited(self) -> dict[str, dict[str, Any]]:
        """What a Reference to an acknowledged entry becomes: ``{"reference": "Task/123"}``."""
        return {url: {"reference": reference} for url, reference in self.by_full_url.items()}

    def references(self, entries: list[dict[str, Any]]) -> tuple[str, ...]:
        """The EHR ids of ``entries`` that were acknowledged, in entry order."""
        return tuple(
            self.by_full_url[e["fullUrl"]] for e in entries if e["fullUrl"] in self.by_full_url
        )


def write_in_steps(
    client: EhrClient,
    bundle: dict[str, Any],
    max_entries: int = 0,
    acknowledged: Acknowledged | None = None,
    cited: Mapping[str, Mapping[str, Any]] | None = None,
) -> TransactionResult:
    """Write the entries of ``bundle`` not yet ``acknowledged``, in transactions of at most
    ``max_entries`` entries (0: automatic, :data:`DEFAULT_MAX_TRANSACTION_ENTRIES`).

    References to acknowledged entries, and to the keys of ``cited`` (stand-ins for what
    the EHR refused), are replaced before sending. Every reference in an alert points to
    an earlier entry, so a later step cites what an earlier step wrote by its EHR id. A
    "too many entries" refusal halves the step and sends it again; the smaller size is
    kept on the client for later alerts. Raises what :meth:`EhrClient.post_transaction`
    raises; ``acknowledged`` then holds every step answered before the failure.
    """
    acknowledged = acknowledged if acknowledged is not None else Acknowledged()
    entries = bundle["entry"]
    pending = [e for e in entries if e["fullUrl"] not in acknowledged.by_full_url]
    size = _step_size(client, max_entries)
    start = 0
    while start < len(pending):
        replaced = {**(cited or {}), **acknowledged.cited()}
        step = [cite(entry, replaced) for entry in pending[start : start + size]]
        try:
            result = client.post_transaction({**bundle, "entry": step})
        except TransactionTooLarge:
            if len(step) == 1:
                raise
            size = _shrink(client, len(step))
            continue
        for entry, reference in zip(step, result.references, strict=False):
            acknowledged.by_full_url[entry["fullUrl"]] = reference
        start += len(step)
    urls = {e["fullUrl"] for e in entries}
    written = {url: ref for url, ref in acknowledged.by_full_url.items() if url in urls}
    return TransactionResult(acknowledged.references(entries), written)


def cite(value: Any, cited: Mapping[str, Mapping[str, Any]]) -> Any:
    """``value`` with each Reference to a key of ``cited`` (a ``fullUrl`` placeholder)
    replaced by what it maps to: ``{"reference": "Task/123"}`` once the EHR wrote it."""
    if isinstance(value, dict):
        target = value.get("reference")
        if isinstance(target, str) and target in cited:
            kept = {k: v for k, v in value.items() if k not in ("reference", "identifier")}
            return {**kept, **cited[target]}
        return {key: cite(item, cited) for key, item in value.items()}
    if isinstance(value, list):
        return [cite(item, cited) for item in value]
    return value


def _step_size(client: EhrClient, max_entries: int) -> int:
    configured = max_entries or DEFAULT_MAX_TRANSACTION_ENTRIES
    return min(configured, client.learned_max_entries or configured)


def _shrink(client: EhrClient, refused: int) -> int:
    size = max(1, refused // 2)
    client.learned_max_entries = min(size, client.learned_max_entries or size)
    log.warning(
        "EHR refused a transaction as too large; writing smaller ones",
        extra={"refused_entries": refused, "max_entries": client.learned_max_entries},
    )
    return client.learned_max_entries
