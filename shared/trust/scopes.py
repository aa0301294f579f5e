"""SMART scopes, v2 (``system/Type.cruds``) and v1 (``system/Type.read|write|*``) syntax.

A scope grants interactions on a resource type: ``c`` create, ``r`` read,
``u`` update, ``d`` delete, ``s`` search. v1 ``read`` means ``rs``, ``write``
``cud``, ``*`` all five. Scopes with a query (``?category=...``) are not
supported and grant nothing. ``system/neuroscreen.admin`` is NeuroScreen's own
scope for the notify admin API and the audit trail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ADMIN_SCOPE = "system/neuroscreen.admin"
INTERACTIONS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": INTERACTIONS}
_SCOPE = re.compile(r"system/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)")


@dataclass(frozen=True)
class Grants:
    """What a set of scopes allows: interactions by resource type (``*`` = every type)."""

    by_type: dict[str, frozenset[str]]
    named: frozenset[str]
    """Non-resource scopes such as ``system/neuroscreen.admin``."""

    def allows(self, resource_type: str, interaction: str) -> bool:
        on_type = self.by_type.get(resource_type, frozenset())
        return interaction in on_type or interaction in self.by_type.get("*", frozenset())

    def has(self, scope: str) -> bool:
        return scope in self.named


def parse_scopes(text: str | Iterable[str]) -> Grants:
    words = text.split() if isinstance(text, str) else list(text)
    by_type: dict[str, set[str]] = {}
    named: set[str] = set()
    for word in words:
        match = _SCOPE.fullmatch(word)
        if match and match.group(2):
            resource_type, permissions = match.groups()
            by_type.setdefault(resource_type, set()).update(_V1.get(permissions, permissions))
        elif word == ADMIN_SCOPE:
            named.add(word)
    return Grants({k: frozenset(v) for k, v in by_type.items()}, frozenset(named))


def grant(requested: str, ceiling: str) -> str:
    """The scope string granted: each requested scope narrowed to what ``ceiling`` allows.

    ``system/QuestionnaireResponse.cruds`` asked by a client whose ceiling is
    ``system/QuestionnaireResponse.c system/*.rs`` is granted as
    ``system/QuestionnaireResponse.crs`` (v2 syntax, whatever syntax was asked).
    """
    allowed = parse_scopes(ceiling)
    asked = parse_scopes(requested)
    granted: list[str] = []
    for resource_type, permissions in sorted(asked.by_type.items()):
        if resource_type == "*":
            # A wildcard request gets exactly the ceiling's grants, type by type.
            kept = {kind: permissions & given for kind, given in allowed.by_type.items()}
        else:
            given = allowed.by_type.get(resource_type, frozenset()) | allowed.by_type.get(
                "*", frozenset()
            )
            kept = {resource_type: permissions & given}
        for kind, perms in kept.items():
            if perms:
                granted.append(f"system/{kind}.{''.join(c for c in INTERACTIONS if c in perms)}")
    granted += sorted(asked.named & allowed.named)
    return " ".join(dict.fromkeys(granted))


def is_scope_text(text: str) -> bool:
    """True if every word is a scope this server understands."""
    words = text.split()
    return bool(words) and all(_SCOPE.fullmatch(w) or w == ADMIN_SCOPE for w in words)
