"""Which care coordinator receives an alert.

``NEUROSCREEN_COORDINATOR`` is the default. An optional routing file
(``NEUROSCREEN_ROUTING_FILE``, YAML) sends responses from a given author or
source (e.g. a clinic's Organization or a PractitionerRole) elsewhere::

    routes:
      - author: Organization/north-clinic
        coordinator: CareTeam/north-neuro
      - source: PractitionerRole/dr-lee
        coordinator: Practitioner/coordinator-7

The first route whose every key matches wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MATCH_KEYS = ("author", "source")


@dataclass(frozen=True)
class Route:
    match: dict[str, str]
    coordinator: str


@dataclass(frozen=True)
class CoordinatorRouting:
    default: str
    routes: tuple[Route, ...] = ()

    def coordinator_for(self, response: dict[str, Any]) -> str:
        for route in self.routes:
            if all(_reference(response.get(key)) == value for key, value in route.match.items()):
                return route.coordinator
        return self.default


def load_routing(default: str, path: Path | None) -> CoordinatorRouting:
    """Read the routing file, failing loudly on anything it cannot use."""
    if path is None:
        return CoordinatorRouting(default)
    data = yaml.safe_load(path.read_text()) or {}
    routes = []
    for index, raw in enumerate(data.get("routes", [])):
        match = {k: str(v) for k, v in raw.items() if k in MATCH_KEYS}
        coordinator = raw.get("coordinator")
        if not match or not isinstance(coordinator, str) or "/" not in coordinator:
            raise ValueError(
                f"{path}: route {index} needs one of {MATCH_KEYS} and a coordinator reference"
            )
        routes.append(Route(match, coordinator))
    return CoordinatorRouting(default, tuple(routes))


def _reference(element: Any) -> str | None:
    if isinstance(element, dict):
        return element.get("reference")
    return None
