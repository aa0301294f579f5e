"""External codings of the screening outputs, read once from ``terminology.yaml``.

SNOMED CT, LOINC and HL7 codes are data with provenance, not code: each one
carries its verification status and the public source it was seen in, so a
terminologist can review the file without reading Python. This module turns
the file into typed, frozen objects and refuses anything it would have to
guess about: an unknown key, a missing source, a code without a status, a
workup or pattern code the contract does not define (or one it defines that
the file forgets). Workup entries are the active (orderable) codes only: the
deprecated 1.0.0 codes are ordered as their replacements (:mod:`.orders`). The
file is parsed at import, so a bad edit stops the screening worker at start
instead of reaching an EHR.

How a status reaches the output is decided here, in one place:
:meth:`ExternalCode.coding` emits ``V`` and ``C`` codes (SNOMED CT and LOINC
ones tagged with their status) and refuses ``NOT VERIFIED`` ones, which the
builders name in a note through :meth:`ExternalCode.flag` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal, cast

import yaml

from screening.output.orders import ORDERABLE
from shared.fhir.codes import (
    CODE_VERIFICATION_EXTENSION,
    LOINC,
    NEUROPATHY_PATTERN,
    OBSERVATION_CATEGORY,
    OBSERVATION_INTERPRETATION,
    REQUEST_PRIORITY_BY_TIER,
    RISK_PROBABILITY,
    SCREEN_ANSWERS,
    SCREENING_TIER,
    SNOMED,
)
from shared.fhir.codesystems import CODE_SYSTEMS, CodeSystemError, concept_display

VerificationStatus = Literal["V", "C", "NOT VERIFIED"]

CONDITIONS: tuple[str, ...] = (
    "egpa",
    "polyarteritis-nodosa",
    "lupus",
    "sjogren",
    "rheumatoid-arthritis",
    "celiac",
)
"""The six conditions of the contract, as ``screen-answers`` codes."""

SYSTEMS: Mapping[str, str] = {
    "SNOMED": SNOMED,
    "LOINC": LOINC,
    "RISK_PROBABILITY": RISK_PROBABILITY,
    "OBSERVATION_CATEGORY": OBSERVATION_CATEGORY,
    "OBSERVATION_INTERPRETATION": OBSERVATION_INTERPRETATION,
}
"""The short system names the YAML uses."""

SYSTEM_NAMES: Mapping[str, str] = {SNOMED: "SNOMED CT", LOINC: "LOINC"}
_TAGGED_SYSTEMS = frozenset(SYSTEM_NAMES)
"""Clinical terminologies whose Codings carry the code-verification extension."""
_VERIFICATION_CODES: Mapping[str, str] = {"V": "verified", "C": "corroborated"}
_CODE_KEYS = frozenset({"system", "code", "display", "status", "source"})


class TerminologyError(ValueError):
    """``terminology.yaml`` is malformed or disagrees with the contract."""


@dataclass(frozen=True)
class ExternalCode:
    """One code of an external terminology, with how far it was checked."""

    system: str
    code: str | None
    """``None`` only for a NOT VERIFIED concept for which no candidate code was found."""
    display: str
    status: VerificationStatus
    source: str

    @property
    def emitted(self) -> bool:
        """Whether the code may appear as a Coding (never when NOT VERIFIED)."""
        return self.status != "NOT VERIFIED"

    def coding(self) -> dict[str, Any]:
        """The FHIR Coding; SNOMED CT and LOINC ones are tagged with their status."""
        if not self.emitted or self.code is None:
            raise TerminologyError(f"{self.flag()}: a NOT VERIFIED code is never emitted")
        coding: dict[str, Any] = {"system": self.system, "code": self.code}
        if self.system in _TAGGED_SYSTEMS:
            coding["extension"] = [
                {"url": CODE_VERIFICATION_EXTENSION, "valueCode": _VERIFICATION_CODES[self.status]}
            ]
        coding["display"] = self.display
        return coding

    def label(self) -> str:
        """``LOINC 24351-1 'Protein electrophoresis panel - Serum or Plasma'``."""
        name = SYSTEM_NAMES.get(self.system, self.system)
        if self.code is None:
            return f"{name} code for '{self.display}'"
        return f"{name} {self.code} '{self.display}'"

    def flag(self) -> str:
        """Plain-language line naming a code left out because it is NOT VERIFIED."""
        if self.code is None:
            return f"{self.label()}: NOT VERIFIED, none found, no code emitted"
        return f"{self.label()}: NOT VERIFIED, left out of the coding"


@dataclass(frozen=True)
class CodedConcept:
    """A condition, pattern or outcome and its external codes (possibly none)."""

    text: str | None
    codes: tuple[ExternalCode, ...]

    def codings(self) -> list[dict[str, Any]]:
        """The Codings that may be emitted, in file order."""
        return [code.coding() for code in self.codes if code.emitted]

    def unverified(self) -> tuple[ExternalCode, ...]:
        """Codes held back because they are NOT VERIFIED."""
        return tuple(code for code in self.codes if not code.emitted)


@dataclass(frozen=True)
class WorkupTerms(CodedConcept):
    """An orderable test's ServiceRequest.category (if one fits) and codes.

    Several codes are synonyms of the one test (never two tests in one request).
    """

    category: ExternalCode | None


@dataclass(frozen=True)
class TierTerms:
    """What a screening tier becomes in FHIR."""

    risk_probability: ExternalCode
    priority: str
    """ServiceRequest.priority (request-priority code), from the shared workflow policy."""


@dataclass(frozen=True)
class ObservationTerms:
    """Category and interpretation codes of the DN4-interview Observation."""

    category: ExternalCode
    neuropathic: ExternalCode
    not_neuropathic: ExternalCode


@dataclass(frozen=True)
class Terminology:
    """Everything ``terminology.yaml`` says, checked against the contract."""

    conditions: Mapping[str, CodedConcept]
    patterns: Mapping[str, CodedConcept]
    outcome: CodedConcept
    tiers: Mapping[str, TierTerms]
    suspicion_levels: Mapping[str, ExternalCode]
    observation: ObservationTerms
    workup: Mapping[str, WorkupTerms]


def parse_terminology(data: Any) -> Terminology:
    """Check and convert the parsed YAML; raise :class:`TerminologyError` on any doubt."""
    root = _mapping(data, "terminology")
    _keys(
        {k: v for k, v in root.items() if not str(k).startswith("_")},
        {
            "conditions",
            "patterns",
            "outcome",
            "risk_probability",
            "tiers",
            "suspicion_levels",
            "observation",
            "service_request_categories",
            "workup",
        },
        "terminology",
    )
    probabilities: dict[str | None, ExternalCode] = {}
    for i, entry in enumerate(_list(root["risk_probability"], "risk_probability")):
        code = _code(entry, f"risk_probability[{i}]")
        if code.system != RISK_PROBABILITY:
            raise TerminologyError(f"risk_probability[{i}] must be a risk-probability code")
        probabilities[code.code] = code
    categories = {
        name: _emitted(_code(entry, f"service_request_categories.{name}"))
        for name, entry in _mapping(
            root["service_request_categories"], "service_request_categories"
        ).items()
    }
    outcome = _concept(root["outcome"], "outcome")
    if not outcome.text or not outcome.codings():
        raise TerminologyError("outcome needs a text and at least one emitted code")
    return Terminology(
        conditions=_concepts(root["conditions"], "conditions", SCREEN_ANSWERS, CONDITIONS),
        patterns=_concepts(root["patterns"], "patterns", NEUROPATHY_PATTERN, None),
        outcome=outcome,
        tiers=_tiers(root["tiers"], probabilities),
        suspicion_levels=_levels(root["suspicion_levels"], probabilities),
        observation=_observation(root["observation"]),
        workup=_workup(root["workup"], categories),
    )


def load_terminology() -> Terminology:
    """Parse the ``terminology.yaml`` packaged beside this module."""
    text = files(__package__).joinpath("terminology.yaml").read_text(encoding="utf-8")
    return parse_terminology(yaml.safe_load(text))


def _concepts(
    data: Any, where: str, system: str, expected: tuple[str, ...] | None
) -> dict[str, CodedConcept]:
    concepts = _mapping(data, where)
    codes = set(expected) if expected else _contract_codes(system)
    _keys(concepts, codes, where)
    for code in concepts:
        _in_contract(system, code, where)
    return {code: _concept(entry, f"{where}.{code}") for code, entry in concepts.items()}


def _concept(data: Any, where: str) -> CodedConcept:
    entry = _mapping(data, where)
    _keys(entry, {"codes"}, where, optional={"text"})
    text = entry.get("text")
    if text is not None and not (isinstance(text, str) and text):
        raise TerminologyError(f"{where}.text must be a non-empty string")
    codes = _list(entry["codes"], f"{where}.codes")
    return CodedConcept(
        text, tuple(_code(code, f"{where}.codes[{i}]") for i, code in enumerate(codes))
    )


def _workup(data: Any, categories: Mapping[str, ExternalCode]) -> dict[str, WorkupTerms]:
    steps = _mapping(data, "workup")
    _keys(steps, ORDERABLE, "workup")  # ORDERABLE comes from the workup CodeSystem
    result: dict[str, WorkupTerms] = {}
    for step, entry in steps.items():
        where = f"workup.{step}"
        _keys(_mapping(entry, where), {"category", "codes"}, where)
        category = entry["category"]
        if category is not None and category not in categories:
            raise TerminologyError(f"{where}.category: unknown category {category!r}")
        concept = _concept({"codes": entry["codes"]}, where)
        result[step] = WorkupTerms(
            None, concept.codes, categories[category] if category is not None else None
        )
    return result


def _tiers(data: Any, probabilities: Mapping[str | None, ExternalCode]) -> dict[str, TierTerms]:
    tiers = _mapping(data, "tiers")
    _keys(tiers, _contract_codes(SCREENING_TIER), "tiers")
    result: dict[str, TierTerms] = {}
    for tier, entry in tiers.items():
        where = f"tiers.{tier}"
        _keys(_mapping(entry, where), {"risk_probability"}, where)
        result[tier] = TierTerms(
            _probability(entry["risk_probability"], probabilities, where),
            REQUEST_PRIORITY_BY_TIER[tier],
        )
    return result


def _levels(data: Any, probabilities: Mapping[str | None, ExternalCode]) -> dict[str, ExternalCode]:
    levels = _mapping(data, "suspicion_levels")
    _keys(levels, {"high", "moderate", "low"}, "suspicion_levels")
    return {
        level: _probability(code, probabilities, f"suspicion_levels.{level}")
        for level, code in levels.items()
    }


def _observation(data: Any) -> ObservationTerms:
    entry = _mapping(data, "observation")
    _keys(entry, {"category", "neuropathic", "not_neuropathic"}, "observation")
    return ObservationTerms(
        **{name: _emitted(_code(value, f"observation.{name}")) for name, value in entry.items()}
    )


def _probability(
    code: Any, probabilities: Mapping[str | None, ExternalCode], where: str
) -> ExternalCode:
    if code not in probabilities:
        raise TerminologyError(f"{where}: {code!r} is not a listed risk-probability code")
    return probabilities[code]


def _code(data: Any, where: str) -> ExternalCode:
    entry = _mapping(data, where)
    _keys(entry, _CODE_KEYS, where)
    if entry["system"] not in SYSTEMS:
        raise TerminologyError(f"{where}.system must be one of {sorted(SYSTEMS)}")
    if entry["status"] not in ("V", "C", "NOT VERIFIED"):
        raise TerminologyError(f"{where}.status must be V, C or NOT VERIFIED")
    for key in ("display", "source"):
        if not (isinstance(entry[key], str) and entry[key].strip()):
            raise TerminologyError(f"{where}.{key} must be a non-empty string")
    code = entry["code"]
    if code is None and entry["status"] != "NOT VERIFIED":
        raise TerminologyError(f"{where}: only a NOT VERIFIED entry may lack a code")
    if code is not None and not (isinstance(code, str) and code.strip() == code and code):
        raise TerminologyError(f"{where}.code must be a quoted string without spaces around it")
    return ExternalCode(
        SYSTEMS[entry["system"]],
        code,
        entry["display"],
        cast(VerificationStatus, entry["status"]),
        " ".join(entry["source"].split()),
    )


def _emitted(code: ExternalCode) -> ExternalCode:
    """Reject a NOT VERIFIED code where the builders always emit one (no note to flag it)."""
    if not code.emitted:
        raise TerminologyError(f"{code.flag()}: this place needs a verified or corroborated code")
    return code


def _contract_codes(system: str) -> set[str]:
    resource = next(cs for cs in CODE_SYSTEMS.values() if cs["url"] == system)
    return {concept["code"] for concept in resource["concept"]}


def _in_contract(system: str, code: str, where: str) -> None:
    try:
        concept_display(system, code)
    except CodeSystemError as error:
        raise TerminologyError(f"{where}: {error}") from None


def _mapping(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TerminologyError(f"{where} must be a mapping")
    return data


def _list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise TerminologyError(f"{where} must be a list")
    return data


def _keys(
    data: Mapping[str, Any],
    required: set[str] | frozenset[str],
    where: str,
    optional: set[str] | frozenset[str] = frozenset(),
) -> None:
    missing = sorted(set(required) - set(data))
    extra = sorted(set(data) - set(required) - set(optional))
    if missing or extra:
        raise TerminologyError(f"{where}: missing keys {missing}, unexpected keys {extra}")


TERMINOLOGY: Terminology = load_terminology()
"""The packaged terminology, parsed once per process."""
