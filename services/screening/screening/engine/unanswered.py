"""Unanswered key items (clinical basis f.2): missing is unknown, never "no".

Each key-item rule of the knowledge base names items whose absence limits the
result and says how; a rule with a condition applies only when its answer
would have mattered for this response (e.g. systemic features only once a
foot drop is reported). An item is reported once, with the first reason.
"""

from __future__ import annotations

from screening.engine.dn4 import Dn4Score
from screening.knowledge import Knowledge
from screening.knowledge.rules import RuleContext
from screening.result import UnansweredItem


def list_unanswered(
    ctx: RuleContext, knowledge: Knowledge, dn4: Dn4Score
) -> tuple[UnansweredItem, ...]:
    """The unanswered items that matter for this response, and why."""
    unanswered = knowledge.key_item_ids - ctx.answers.keys()
    found: dict[str, UnansweredItem] = {}
    for rule in knowledge.key_items:
        missing = rule.item_set & unanswered
        if not missing or (rule.when is not None and rule.when.check(ctx) is None):
            continue
        unanswered -= missing  # each item is reported once, with its first reason
        why = rule.reason(dn4.score, dn4.unanswered, dn4.cutoff)
        for item in rule.items:
            if item in missing:
                found[item] = UnansweredItem(item, why)
        if not unanswered:
            break
    return tuple(found.values())
