"""A compiled view of the screening Questionnaire: one lookup per answered item.

Validating a response asks the same questions for every item (does this linkId
exist, what type is it, may it repeat, which codes may it take, which group
holds it). Walking the Questionnaire JSON for each of them would be slow and
easy to get subtly wrong, so the Questionnaire is compiled once, at import,
into :class:`ItemDefinition` rows keyed by linkId. The index is derived from
the data file only, so changing the Questionnaire cannot leave a second,
hand-kept copy of the rules behind: the intake's validation and the screening
engine's contract both read it.

Results quote answers in short clinician wording ("nasal polyps: yes"), not in
the patient's question. That wording is in the Questionnaire too: the SDC
``shortText`` extension on each question, and :data:`OPTION_SHORT_TEXT_URL` on
each answer option.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ItemType = Literal["group", "display", "boolean", "integer", "choice"]
SUPPORTED_TYPES: frozenset[str] = frozenset({"group", "display", "boolean", "integer", "choice"})
MIN_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/maxValue"
SHORT_TEXT_URL = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-shortText"
OPTION_SHORT_TEXT_URL = "http://neuroscreen.org/fhir/StructureDefinition/answer-short-text"
"""The short wording of an answer option (SDC ``shortText`` applies to items only)."""


@dataclass(frozen=True, slots=True)
class ItemDefinition:
    """What the Questionnaire says about one linkId."""

    link_id: str
    type: ItemType
    repeats: bool
    required: bool
    codes: frozenset[str]
    """The answerOption codes of a choice item (empty for other types)."""
    parents: tuple[str, ...]
    """linkIds of the enclosing items, outermost first (empty at top level)."""
    min_value: int | None = None
    max_value: int | None = None
    short_text: str = ""
    """How results quote the question, e.g. "nasal polyps" (questions only)."""
    options: tuple[str, ...] = ()
    """The answerOption codes in the Questionnaire's order."""
    option_text: Mapping[str, str] = field(default_factory=dict)
    """Each answer code's short wording, e.g. ``under-4-weeks`` → "under 4 weeks"."""
    parent: str | None = field(init=False)
    """The linkId of the directly enclosing item, or None at top level."""
    answerable: bool = field(init=False)
    """True for questions; groups and display items never carry answers."""

    def __post_init__(self) -> None:
        # Stored, not computed on access: validation reads both for every item.
        object.__setattr__(self, "parent", self.parents[-1] if self.parents else None)
        object.__setattr__(self, "answerable", self.type not in ("group", "display"))


class QuestionnaireIndex(Mapping[str, ItemDefinition]):
    """linkId → :class:`ItemDefinition` for every item of one Questionnaire."""

    def __init__(self, definitions: Mapping[str, ItemDefinition], answer_system: str) -> None:
        self._definitions = dict(definitions)
        self.answer_system = answer_system
        self.required: frozenset[str] = frozenset(
            link for link, d in self._definitions.items() if d.required
        )

    @classmethod
    def compile(cls, questionnaire: Mapping[str, Any], answer_system: str) -> QuestionnaireIndex:
        """Index ``questionnaire``; fail at import on anything validation could not honour.

        Raises ``ValueError`` for duplicate linkIds, item types the validator does not
        handle, choice options outside ``answer_system``, or a question or option
        without its short wording: a broken Questionnaire must stop the service from
        starting, not reject every response later.
        """
        definitions: dict[str, ItemDefinition] = {}
        for definition in _walk(questionnaire.get("item", []), (), answer_system):
            if definition.link_id in definitions:
                raise ValueError(f"linkId {definition.link_id!r} is used twice")
            definitions[definition.link_id] = definition
        return cls(definitions, answer_system)

    def __getitem__(self, link_id: str) -> ItemDefinition:
        return self._definitions[link_id]

    def get(self, link_id: str, default: Any = None) -> Any:  # type: ignore[override]
        # Mapping.get goes through __getitem__ and KeyError; this runs once per item.
        return self._definitions.get(link_id, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._definitions)

    def __len__(self) -> int:
        return len(self._definitions)

    def __repr__(self) -> str:
        return f"QuestionnaireIndex({len(self)} items)"


def _walk(
    items: list[Mapping[str, Any]], parents: tuple[str, ...], answer_system: str
) -> Iterator[ItemDefinition]:
    """Every item in document order (the Questionnaire nests only a few levels)."""
    for item in items:
        definition = _definition(item, parents, answer_system)
        yield definition
        yield from _walk(item.get("item", []), (*parents, definition.link_id), answer_system)


def _definition(
    item: Mapping[str, Any], parents: tuple[str, ...], answer_system: str
) -> ItemDefinition:
    link_id, item_type = item["linkId"], item["type"]
    if item_type not in SUPPORTED_TYPES:
        raise ValueError(f"item {link_id!r} has unsupported type {item_type!r}")
    codes = []
    option_text = {}
    for option in item.get("answerOption", []):
        coding = option["valueCoding"]
        if coding.get("system") != answer_system:
            raise ValueError(f"item {link_id!r} has an option outside {answer_system}")
        codes.append(coding["code"])
        option_text[coding["code"]] = _extension(option, OPTION_SHORT_TEXT_URL, "valueString")
    if len(set(codes)) != len(codes):
        raise ValueError(f"item {link_id!r} lists an answer code twice")
    short_text = _extension(item, SHORT_TEXT_URL, "valueString")
    if item_type not in ("group", "display") and not (short_text and all(option_text.values())):
        raise ValueError(f"item {link_id!r} needs a short wording for it and each option")
    return ItemDefinition(
        link_id=link_id,
        type=item_type,
        repeats=bool(item.get("repeats", False)),
        required=bool(item.get("required", False)),
        codes=frozenset(codes),
        parents=parents,
        min_value=_extension(item, MIN_VALUE_URL, "valueInteger"),
        max_value=_extension(item, MAX_VALUE_URL, "valueInteger"),
        short_text=short_text or "",
        options=tuple(codes),
        option_text=option_text,
    )


def _extension(element: Mapping[str, Any], url: str, value: str) -> Any:
    return next((e.get(value) for e in element.get("extension", []) if e["url"] == url), None)
