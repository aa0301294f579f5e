"""FHIR search parameters shared by every searchable resource the intake serves.

Parsing is separate from querying so that ``If-None-Exist`` (a conditional
create) and a plain search read the criteria the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from shared.fhir.outcome import BadRequest, Issue

DEFAULT_COUNT = 20
MAX_COUNT = 200
MAX_TERMS = 100
"""Values one search may carry (each comma-separated OR term, each repeated parameter):
a 20,000-term ``identifier=`` list took 3 s on PostgreSQL and failed on SQLite's
expression depth limit; no EHR needs more than a page of OR terms in one query."""
RESULT_PARAMETERS = frozenset({"_count", "_offset", "_format", "_include", "_total", "_sort"})
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


@dataclass(frozen=True)
class DateBound:
    """One ``_lastUpdated`` criterion, e.g. ``ge2026-01-01``."""

    prefix: str
    start: datetime
    end: datetime
    """The value's implicit range: a day, a second, ... (FHIR search: date precision)."""


@dataclass
class SearchQuery:
    """Parsed criteria: ``token``/``reference`` values by parameter, plus paging."""

    criteria: dict[str, list[str]] = field(default_factory=dict)
    last_updated: list[DateBound] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    offset: int = 0
    include: list[str] = field(default_factory=list)

    def echo(self) -> list[tuple[str, str]]:
        """The criteria as query pairs, for ``self``/``next`` links."""
        pairs = [(name, value) for name, values in self.criteria.items() for value in values]
        pairs += [("_lastUpdated", b.prefix + b.start.isoformat()) for b in self.last_updated]
        pairs += [("_include", value) for value in self.include]
        return pairs


def parse_search(
    params: Sequence[tuple[str, str]], supported: Mapping[str, str], *, strict: bool = False
) -> SearchQuery:
    """Read search ``params``; ``supported`` maps parameter name to its FHIR type.

    Unknown parameters are ignored as the FHIR spec allows, unless the client
    asked for ``Prefer: handling=strict``.
    """
    query = SearchQuery()
    issues: list[Issue] = []
    terms = sum(value.count(",") + 1 for _name, value in params)
    if terms > MAX_TERMS:
        raise BadRequest(
            issues=[
                Issue(
                    "too-costly",
                    f"A search may carry at most {MAX_TERMS} values (comma-separated terms "
                    f"and repeated parameters count one each); split it into several searches",
                )
            ]
        )
    for name, value in params:
        if "\x00" in name or "\x00" in value:
            # No database stores NUL in text: refuse it here rather than fail the query.
            issues.append(Issue("invalid", "Search parameters cannot contain NUL characters"))
        elif name == "_count":
            query.count = _bounded_int(name, value, 0, MAX_COUNT, issues)
        elif name == "_offset":
            query.offset = _bounded_int(name, value, 0, 10**9, issues)
        elif name == "_lastUpdated":
            bound = parse_date(value)
            if bound is None:
                issues.append(Issue("invalid", "_lastUpdated must be a FHIR date or dateTime"))
            else:
                query.last_updated.append(bound)
        elif name == "_include":
            query.include.append(value)
        elif name in supported:
            if not value:
                issues.append(Issue("invalid", f"Search parameter {name} needs a value"))
            elif supported[name] == "reference" and not all(map(_names_an_id, value.split(","))):
                # "basis=QuestionnaireResponse/" matched nothing and answered 200 with total 0,
                # which read as "no result yet" instead of "this search is wrong".
                issues.append(
                    Issue(
                        "invalid",
                        f"Search parameter {name} needs a reference with an id, "
                        f"such as {name}=Type/123 (each comma-separated value)",
                    )
                )
            query.criteria.setdefault(name, []).append(value)
        elif strict and name not in RESULT_PARAMETERS:
            issues.append(Issue("not-supported", f"Unknown search parameter {name}"))
    if issues:
        raise BadRequest(issues=issues)
    return query


def is_fhir_id(text: str) -> bool:
    """FHIR's id type: 1-64 of ``[A-Za-z0-9-.]``; anything else cannot name a stored resource."""
    return _FHIR_ID.fullmatch(text) is not None


def _names_an_id(reference: str) -> bool:
    """``123``, ``Type/123`` or a URL ending in one: the last segment must be a FHIR id."""
    return is_fhir_id(reference.rsplit("/", 1)[-1])


def parse_query_string(text: str) -> list[tuple[str, str]]:
    """``If-None-Exist`` carries a query string without the leading ``?``."""
    return parse_qsl(text.lstrip("?"), keep_blank_values=True)


def page_link(base: str, query: SearchQuery, offset: int) -> str:
    pairs = [*query.echo(), ("_count", str(query.count)), ("_offset", str(offset))]
    return f"{base}?{urlencode(pairs)}"


def reference_value(value: str, resource_type: str) -> str:
    """``123``, ``Patient/123`` or an absolute URL ending in ``Patient/123`` → ``Patient/123``."""
    parts = [part for part in value.split("/") if part]
    if len(parts) < 2:
        return f"{resource_type}/{parts[0] if parts else ''}"
    return f"{parts[-2]}/{parts[-1]}"


def token_value(value: str) -> tuple[str | None, str]:
    """``system|code`` → (system, code); ``code`` → (None, code); ``|code`` → ("", code)."""
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


def _bounded_int(name: str, value: str, low: int, high: int, issues: list[Issue]) -> int:
    try:
        number = int(value)
    except ValueError:
        issues.append(Issue("invalid", f"{name} must be an integer"))
        return 0
    return max(low, min(number, high))


def parse_date(value: str) -> DateBound | None:
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    text = value[2:] if value[:2] in _PREFIXES else value
    formats: list[tuple[str, Any]] = [
        ("%Y", None),
        ("%Y-%m", None),
        ("%Y-%m-%d", timedelta(days=1)),
    ]
    try:
        for fmt, width in formats:
            try:
                start = datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
            end = _next_period(start, fmt) if width is None else start + width
            return DateBound(prefix, start, end)
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        precision = timedelta(seconds=1) if start.microsecond == 0 else timedelta(microseconds=1)
        return DateBound(prefix, start, start + precision)
    except (ValueError, OverflowError):
        # Unparseable, or the end of its period is past year 9999 (``gt9999``): no date we keep.
        return None


def _next_period(start: datetime, fmt: str) -> datetime:
    if fmt == "%Y":
        return start.replace(year=start.year + 1)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)
