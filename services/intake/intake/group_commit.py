"""Group commit: concurrent creates share one PostgreSQL transaction.

Each POST hands its row to :meth:`GroupCommitter.insert` and awaits it. One
writer task per process collects rows for at most ``max_wait`` seconds (or
until ``max_rows``), writes them with ONE statement — the responses'
``INSERT ... ON CONFLICT DO NOTHING`` and, in a CTE, their outbox jobs — sends
``NOTIFY`` to wake the relay, and commits once. Only then is each caller's
future resolved: a ``201`` always means the caller's own row has committed.

A row whose identifier is taken is simply not inserted (``False``: the caller
answers with the stored response or refuses the reuse). A batch that fails
for another reason is retried row by row, so one bad row fails only its own
request. A lost connection fails the batch's requests (503) and reconnects.
The connection is psycopg 3's own async connection: no thread-pool hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from prometheus_client import Histogram

from shared.models import QuestionnaireResponseRecord
from shared.outbox import NOTIFY_CHANNEL
from shared.tasks import SCORE_RESPONSE

log = logging.getLogger("neuroscreen.intake")

COLUMNS = tuple(column.name for column in QuestionnaireResponseRecord.__table__.columns)
_ROW = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"

BATCH_ROWS = Histogram(
    "neuroscreen_intake_group_commit_rows",
    "Responses stored per group-commit transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)

Row = tuple[Any, ...]
Pending = tuple[Row, "asyncio.Future[bool]"]


def _statement(rows: int) -> str:
    # The outbox payload is {"response_id": id}: what shared.outbox.enqueue stores.
    # Only the model's column names and placeholders are formatted in; values are bound.
    return (
        "WITH stored AS ("  # noqa: S608
        f" INSERT INTO questionnaire_response ({', '.join(COLUMNS)})"
        f" VALUES {', '.join([_ROW] * rows)}"
        " ON CONFLICT DO NOTHING RETURNING id, last_updated"
        "), queued AS ("
        " INSERT INTO outbox (task, payload, available_at, created_at)"
        " SELECT %s, '{\"response_id\": \"' || id || '\"}', last_updated, last_updated"
        " FROM stored"
        ") SELECT id FROM stored"
    )


class GroupCommitter:
    """Batches this process's response inserts into shared transactions."""

    def __init__(self, database_url: str, *, max_wait: float, max_rows: int) -> None:
        self._url = database_url.replace("postgresql+psycopg://", "postgresql://")
        self._max_wait = max_wait
        self._max_rows = max_rows
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._connection: psycopg.AsyncConnection | None = None
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0
        """Transactions committed so far (each holding one or more responses)."""

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._connection is not None:
            await self._connection.close()

    async def insert(self, record: QuestionnaireResponseRecord) -> bool:
        """Store ``record`` and its screening job; True once committed, False if a duplicate."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((tuple(getattr(record, c) for c in COLUMNS), future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            try:
                await self._commit(batch)
            except Exception as error:  # a bug must fail the requests, not hang them
                log.error("group commit crashed", extra={"error": type(error).__name__})
                for _, future in batch:
                    _settle(future, error=error)

    async def _collect(self) -> list[Pending]:
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        while len(batch) < self._max_rows:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _commit(self, batch: list[Pending]) -> None:
        try:
            inserted = await self._write([row for row, _ in batch])
        except psycopg.OperationalError as error:
            await self._drop_connection()
            for _, future in batch:
                _settle(future, error=error)
            return
        except psycopg.Error as error:
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            # One bad row must not fail the others: each alone, in its own transaction.
            log.warning("group commit failed, retrying row by row", extra={"count": len(batch)})
            for pending in batch:
                await self._commit([pending])
            return
        BATCH_ROWS.observe(len(batch))
        self.commits += 1
        for row, future in batch:
            _settle(future, result=row[0] in inserted)

    async def _write(self, rows: list[Row]) -> set[str]:
        connection = await self._connect()
        try:
            params = [value for row in rows for value in row]
            cursor = await connection.execute(_statement(len(rows)), [*params, SCORE_RESPONSE.name])
            inserted = {row[0] for row in await cursor.fetchall()}
            if inserted:
                await connection.execute(f"NOTIFY {NOTIFY_CHANNEL}")
            await connection.commit()
        except BaseException:
            if not connection.closed:
                with contextlib.suppress(psycopg.Error):
                    await connection.rollback()
            raise
        return inserted

    async def _connect(self) -> psycopg.AsyncConnection:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(self._url, connect_timeout=3)
        return self._connection

    async def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.close()
            self._connection = None


def _settle(
    future: asyncio.Future[bool], *, result: bool = False, error: BaseException | None = None
) -> None:
    if future.done():  # the request was cancelled (client gone): nothing to tell it
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
