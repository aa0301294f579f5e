"""Evidence bookkeeping shared by the engine's steps."""

from __future__ import annotations

from collections.abc import Iterable

from screening.result import Evidence


def distinct(evidence: Iterable[Evidence]) -> tuple[Evidence, ...]:
    """Each piece of evidence once, first occurrence first.

    Rules combine conditions, so the same answer can arrive twice; evidence
    objects are shared singletons from the knowledge base, and equal values are
    merged too.
    """
    if type(evidence) is tuple and len(evidence) < 2:
        return evidence
    seen: dict[tuple[str, object], Evidence] = {}
    for item in evidence:
        seen.setdefault((item.link_id, item.value), item)
    return tuple(seen.values())
