"""SQL for the searchable columns every stored resource shares.

Both ``questionnaire_response`` and ``derived_resource`` keep ``id``,
``patient`` and ``last_updated``; this module turns parsed search criteria
into WHERE clauses on them and runs the paged query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from intake.search import DateBound, SearchQuery, reference_value


def last_updated_clause(column: Any, bound: DateBound) -> ColumnElement[bool]:
    """FHIR date-search semantics on a timestamp column."""
    within = and_(column >= bound.start, column < bound.end)
    return {
        "eq": within,
        "ne": not_(within),
        "gt": column >= bound.end,
        "sa": column >= bound.end,
        "ge": column >= bound.start,
        "lt": column < bound.start,
        "eb": column < bound.start,
        "le": column < bound.end,
    }[bound.prefix]


def patient_clause(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``patient=a,b`` (comma = OR) on a ``Patient/<id>`` column."""
    refs = [reference_value(v, "Patient") for value in values for v in value.split(",")]
    return column.in_(refs)


def paged(
    session: Session, statement: Select[Any], model: Any, query: SearchQuery
) -> tuple[list[Any], int]:
    """Rows of one page (newest first) and the total number of matches."""
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    if query.count == 0:
        return [], total
    rows = session.scalars(
        statement.order_by(model.last_updated.desc(), model.id)
        .offset(query.offset)
        .limit(query.count)
    ).all()
    return list(rows), total


def any_of(clauses: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*clauses)
