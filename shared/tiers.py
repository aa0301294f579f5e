"""The screening tiers: the one place their names and order are spelled out.

Every service reads them from here: the engine assigns a tier, the knowledge
base's rules and actions are checked against them, settings such as
``NEUROSCREEN_ALERT_MIN_TIER`` are validated against them, and the
``screening-tier`` CodeSystem publishes them (a test checks it lists exactly
these codes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

Tier = Literal["low", "moderate", "high", "urgent"]
"""Lowest first: ``urgent`` is same-day assessment, ``low`` is no immune-neuropathy work-up."""

TIER_ORDER: tuple[Tier, ...] = get_args(Tier)
TIER_RANK: Mapping[str, int] = {tier: rank for rank, tier in enumerate(TIER_ORDER)}
"""Each tier's rank (``low`` 0 ... ``urgent`` 3), for "at least this tier" comparisons."""


def at_least(tier: str, threshold: str) -> bool:
    """Whether ``tier`` is ``threshold`` or above: the one "at least this tier" rule.

    Used wherever a setting such as ``NEUROSCREEN_ALERT_MIN_TIER`` decides whether
    a screening alerts the coordinator or shows a CDS card. An unknown tier raises
    ``KeyError``: tiers are validated where they enter (settings, knowledge base).
    """
    return TIER_RANK[tier] >= TIER_RANK[threshold]
