"""The project's CodeSystem resources, kept as data and loaded once.

Each ``<id>.json`` beside this module *is* the CodeSystem the intake serves at
``/fhir/CodeSystem/<id>``. They are also the single source of the displays the
builders put in Codings, so what an EHR reads in a resource always matches what
it can look up. Loading checks the few invariants the rest of the code relies
on (id matches file and URL, codes unique, every concept has a display) and
fails loudly at import: a broken file must stop a service at start, not
produce Codings nobody can resolve.

Treat :data:`CODE_SYSTEMS` as read-only: it is shared by the whole process.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import orjson

from shared.fhir.codes import CODE_SYSTEM_BASE

__all__ = ["CODE_SYSTEMS", "CodeSystemError", "concept_display", "project_coding"]


class CodeSystemError(ValueError):
    """A CodeSystem file is malformed, or a code is not in its CodeSystem."""


def _load() -> dict[str, dict[str, Any]]:
    systems: dict[str, dict[str, Any]] = {}
    for entry in sorted(files(__package__).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        resource = orjson.loads(entry.read_bytes())
        _check(entry.name.removesuffix(".json"), resource)
        systems[resource["id"]] = resource
    if not systems:
        raise CodeSystemError("no CodeSystem files found beside shared.fhir.codesystems")
    return systems


def _check(stem: str, resource: dict[str, Any]) -> None:
    where = f"CodeSystem file {stem}.json"
    if resource.get("resourceType") != "CodeSystem" or resource.get("id") != stem:
        raise CodeSystemError(f"{where}: must be a CodeSystem whose id is {stem!r}")
    if resource.get("url") != CODE_SYSTEM_BASE + stem:
        raise CodeSystemError(f"{where}: url must be {CODE_SYSTEM_BASE + stem}")
    concepts = resource.get("concept") or []
    codes = [concept.get("code") for concept in concepts]
    if len(set(codes)) != len(codes) or not all(codes):
        raise CodeSystemError(f"{where}: codes must be present and unique")
    if not all(concept.get("display") and concept.get("definition") for concept in concepts):
        raise CodeSystemError(f"{where}: every concept needs a display and a definition")
    if resource.get("content") != "complete" or resource.get("count") != len(concepts):
        raise CodeSystemError(f"{where}: content must be complete and count must match")


CODE_SYSTEMS: dict[str, dict[str, Any]] = _load()
"""Every project CodeSystem resource, by id (``screening-tier``, ``workup``...)."""

_DISPLAYS: dict[str, dict[str, str]] = {
    resource["url"]: {concept["code"]: concept["display"] for concept in resource["concept"]}
    for resource in CODE_SYSTEMS.values()
}


def concept_display(system: str, code: str) -> str:
    """The display of ``code`` in the project CodeSystem whose URL is ``system``.

    Raises :class:`CodeSystemError` for an unknown system or code, so a code the
    contract does not define can never reach an EHR.
    """
    try:
        return _DISPLAYS[system][code]
    except KeyError:
        raise CodeSystemError(f"{code!r} is not a code of {system}") from None


def project_coding(system: str, code: str) -> dict[str, str]:
    """A Coding of a project code with its published display."""
    return {"system": system, "code": code, "display": concept_display(system, code)}
