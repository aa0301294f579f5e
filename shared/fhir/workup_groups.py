"""How a suggested work-up is grouped: emergency first, first-line tests, specialist steps.

One definition for every place that shows or offers the work-up: the screening
report, the ServiceRequest notes and the CDS card's suggestions. The grouping
follows the tier actions of the clinical basis (section f.6): a red flag's
same-day assessment comes before any test; blood and urine tests and chest
imaging are what a primary-care team can order at once; referrals,
neurophysiology, cross-sectional imaging and biopsies are specialist steps.
"""

from __future__ import annotations

from typing import Literal

WorkupGroup = Literal["emergency", "first-line", "specialist"]

WORKUP_GROUPS: tuple[WorkupGroup, ...] = ("emergency", "first-line", "specialist")
"""In the order they are shown and offered."""

GROUP_TITLES: dict[WorkupGroup, str] = {
    "emergency": "Emergency: same-day assessment",
    "first-line": "First-line tests",
    "specialist": "Specialist steps",
}

SAME_DAY_ASSESSMENTS = frozenset({"emergency-assessment", "temporal-artery-assessment"})
"""Steps that are the same-day assessment itself, not a test that could delay it."""

SPECIALIST_STEPS = frozenset(
    {
        "neurology-referral",
        "rheumatology-referral",
        "gastroenterology-referral",
        "ncs-emg",
        "nerve-biopsy",
        "skin-biopsy",
        "mri",
        "mri-spine",
        "ct",
        "ct-angiography",
        "ct-sinuses",
    }
)
"""Referrals and the steps a specialist orders (neurophysiology, imaging, biopsies)."""


def workup_group(code: str) -> WorkupGroup:
    """The group of one ``workup`` code; any other code is a first-line test."""
    if code in SAME_DAY_ASSESSMENTS:
        return "emergency"
    if code in SPECIALIST_STEPS:
        return "specialist"
    return "first-line"
