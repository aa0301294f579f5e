"""What a run has done so far: progress while it runs, the tier transitions when it ends.

Counted from the run's items, so the report is the same whichever worker did which
batch and however often a batch was redone. Response ids are listed for every tier
change, for responses left in flight and for failures; unchanged tiers are counted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import ItemOutcome, RescreenItem, RescreenRun, RunStatus
from shared.models.base import utcnow
from shared.tiers import TIER_RANK


def progress(run: RescreenRun) -> dict[str, Any]:
    """done/total, responses per second and the estimated seconds left."""
    elapsed = ((run.finished_at or utcnow()) - run.created_at).total_seconds()
    rate = run.done / elapsed if elapsed > 0 else 0.0
    left = max(run.total - run.done, 0)
    eta = None if run.status != RunStatus.RUNNING or rate == 0 else round(left / rate, 1)
    return {
        "id": run.id,
        "knowledgeVersion": run.knowledge_version,
        "dryRun": run.dry_run,
        "status": run.status,
        "done": run.done,
        "total": run.total,
        "ratePerSecond": round(rate, 1),
        "etaSeconds": eta,
    }


def report(session: Session, run: RescreenRun) -> dict[str, Any]:
    """Progress plus the tally: ``"low -> urgent": {"count": 12, "responses": [...]}``."""
    transitions: dict[str, dict[str, Any]] = {}
    unchanged: dict[str, int] = {}
    skipped: dict[str, list[str]] = {}
    alerted: list[str] = []
    rows = session.execute(
        select(
            RescreenItem.response_id,
            RescreenItem.from_tier,
            RescreenItem.to_tier,
            RescreenItem.outcome,
            RescreenItem.alerted,
        )
        .where(RescreenItem.run_id == run.id)
        .order_by(RescreenItem.response_id)
    )
    for response_id, from_tier, to_tier, outcome, was_alerted in rows:
        if was_alerted:
            alerted.append(response_id)
        if outcome in (ItemOutcome.ALREADY, ItemOutcome.FAILED, ItemOutcome.IN_FLIGHT):
            skipped.setdefault(outcome, []).append(response_id)
        if to_tier is None or outcome == ItemOutcome.ALREADY:
            continue
        if from_tier == to_tier:
            unchanged[to_tier] = unchanged.get(to_tier, 0) + 1
            continue
        entry = transitions.setdefault(f"{from_tier} -> {to_tier}", {"count": 0, "responses": []})
        entry["count"] += 1
        entry["responses"].append(response_id)
    return {
        **progress(run),
        "transitions": dict(sorted(transitions.items(), key=_most_serious_first)),
        "unchanged": unchanged,
        "skipped": skipped,
        # Apply: the responses sent to notify for a new alert; dry run: those that would be.
        "alerts": alerted,
    }


def _most_serious_first(item: tuple[str, dict[str, Any]]) -> tuple[int, int]:
    from_tier, _, to_tier = item[0].partition(" -> ")
    return (-TIER_RANK[to_tier], TIER_RANK[from_tier])
