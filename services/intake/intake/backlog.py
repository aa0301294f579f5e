"""Storing a backlog import: NDJSON lines validated one by one, stored a batch at a time.

Each line goes through exactly the validation of a single ``POST`` (same verdicts, same
OperationOutcomes) and must carry an ``identifier``: the identifier is what makes a re-run
of the same file store nothing twice. Valid lines of a batch are stored with one
multi-row ``INSERT ... ON CONFLICT DO NOTHING`` and their screening jobs with one more
(on the ``screening-bulk`` queue), in one transaction with the job's counters and the
batch's refused lines. A line whose identifier is already stored is a duplicate when it
is the same response (a re-run) and refused (422, as a single POST) when it is not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from intake.responses import ResponseRow, new_record
from intake.validation import validate_questionnaire_response
from shared.fhir.outcome import FhirError, Issue, operation_outcome
from shared.models import ImportJob, QuestionnaireResponseRecord, RefusedLine
from shared.models.base import utcnow
from shared.outbox import enqueue_many
from shared.tasks import SCORE_BACKLOG

LINE_EXTENSION = "http://neuroscreen.org/fhir/StructureDefinition/import-line"
"""On each OperationOutcome of the error file: the refused line's number (1-based)."""

TOO_LONG = None
"""A line :class:`NdjsonLines` cut off for passing the per-line limit."""


@dataclass
class NdjsonLines:
    """Splits a streamed body into numbered lines without holding more than one line."""

    max_line_bytes: int
    number: int = 0
    _partial: bytearray = field(default_factory=bytearray)
    _too_long: bool = False

    def feed(self, chunk: bytes) -> Iterator[tuple[int, bytes | None]]:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            self._take(chunk[start:end])
            yield from self._line()
            start = end + 1
        self._take(chunk[start:])

    def close(self) -> Iterator[tuple[int, bytes | None]]:
        if self._partial or self._too_long:
            yield from self._line()

    def _take(self, piece: bytes) -> None:
        if not self._too_long:
            self._partial += piece
            if len(self._partial) > self.max_line_bytes:
                self._too_long = True
                self._partial.clear()

    def _line(self) -> Iterator[tuple[int, bytes | None]]:
        self.number += 1
        line, too_long = bytes(self._partial).strip(), self._too_long
        self._partial.clear()
        self._too_long = False
        if too_long:
            yield self.number, TOO_LONG
        elif line:  # blank lines are allowed and skipped
            yield self.number, line


@dataclass(frozen=True)
class BatchResult:
    stored: int
    duplicates: int
    refused: int


@dataclass(frozen=True)
class Prepared:
    """A batch validated and turned into records, before any database work."""

    last_line: int
    records: dict[int, QuestionnaireResponseRecord]
    refusals: dict[int, dict[str, Any]]


def store_batch(
    session: Session,
    job_id: str,
    lines: Sequence[tuple[int, bytes | None]],
    *,
    max_line_bytes: int,
    screening_due_seconds: float,
) -> BatchResult:
    """Validate and store one batch of lines, and count it on the job; flushes."""
    prepared = prepare_batch(
        lines, max_line_bytes=max_line_bytes, screening_due_seconds=screening_due_seconds
    )
    return commit_batch(session, job_id, prepared)


def prepare_batch(
    lines: Sequence[tuple[int, bytes | None]], *, max_line_bytes: int, screening_due_seconds: float
) -> Prepared:
    """Validate each line (no I/O): the route validates the next batch while the previous
    one is being written."""
    due_at = utcnow() + timedelta(seconds=screening_due_seconds)
    records: dict[int, QuestionnaireResponseRecord] = {}
    refusals: dict[int, dict[str, Any]] = {}
    for number, line in lines:
        if line is TOO_LONG:
            text = f"longer than {max_line_bytes} bytes (NEUROSCREEN_MAX_BODY_BYTES)"
            refusals[number] = refusal(number, 413, [Issue("too-costly", f"line {text}")])
            continue
        try:
            response = validate_questionnaire_response(line)
        except FhirError as error:
            refusals[number] = refusal(number, error.status, error.issues)
            continue
        if response.identifier is None:
            issue = Issue(
                "required",
                "an imported response needs an identifier: it is what keeps a re-run "
                "from storing it twice",
                "QuestionnaireResponse.identifier",
            )
            refusals[number] = refusal(number, 422, [issue])
            continue
        records[number] = new_record(response, due_at=due_at)
    return Prepared(max((n for n, _ in lines), default=0), records, refusals)


def commit_batch(session: Session, job_id: str, prepared: Prepared) -> BatchResult:
    """Store a prepared batch with its outbox rows and refusals, and count it; flushes."""
    records, refusals = prepared.records, dict(prepared.refusals)
    inserted = _insert(session, list(records.values()))
    duplicates = 0
    clashes = _existing_hashes(session, [r for r in records.values() if r.id not in inserted])
    for number, record in records.items():
        if record.id in inserted:
            continue
        key = (record.identifier_value, record.identifier_system)
        if clashes.get(key) == record.content_hash:
            duplicates += 1
        else:
            issue = Issue(
                "duplicate",
                "Another QuestionnaireResponse already uses this identifier",
                "QuestionnaireResponse.identifier",
            )
            refusals[number] = refusal(number, 422, [issue])
    enqueue_many(session, SCORE_BACKLOG, [r.id for r in records.values() if r.id in inserted])
    if refusals:
        session.connection().execute(
            insert(RefusedLine.__table__),
            [
                {"job_id": job_id, "line": number, "outcome": orjson.dumps(outcome).decode()}
                for number, outcome in refusals.items()
            ],
        )
    job = session.get(ImportJob, job_id, with_for_update=True)
    if job is not None:
        job.lines = max(job.lines, prepared.last_line)
        job.stored += len(inserted)
        job.duplicates += duplicates
        job.refused += len(refusals)
        job.updated_at = utcnow()
    session.flush()
    return BatchResult(len(inserted), duplicates, len(refusals))


def refusal(number: int, status: int, issues: Sequence[Issue]) -> dict[str, Any]:
    """The error file's entry for a refused line: the OperationOutcome a single POST of it
    would have got, with its line number (extension, and in every diagnostics)."""
    outcome = operation_outcome(
        [Issue(i.code, f"line {number}: {i.diagnostics}", i.expression, i.severity) for i in issues]
    )
    outcome["extension"] = [
        {"url": LINE_EXTENSION, "valueInteger": number},
        {"url": LINE_EXTENSION + "-status", "valueInteger": status},
    ]
    return outcome


def _insert(session: Session, records: list[ResponseRow]) -> set[str]:
    """One multi-row INSERT; returns the ids stored (an identifier already taken is not)."""
    if not records:
        return set()
    connection = session.connection()
    table = QuestionnaireResponseRecord.__table__
    dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    rows = [r.values() for r in records]
    statement = dialect_insert(table).on_conflict_do_nothing().returning(table.c.id)
    return set(connection.execute(statement, rows).scalars())


def _existing_hashes(
    session: Session, records: list[ResponseRow]
) -> dict[tuple[str | None, str | None], str]:
    if not records:
        return {}
    model = QuestionnaireResponseRecord
    keys = list({(r.identifier_value, r.identifier_system) for r in records})
    rows = session.execute(
        select(model.identifier_value, model.identifier_system, model.content_hash).where(
            tuple_(model.identifier_value, model.identifier_system).in_(keys)
        )
    )
    return {(value, system): content_hash for value, system, content_hash in rows}
