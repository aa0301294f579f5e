"""The screening task: a thin wrapper that opens the transaction and calls :func:`score`."""

from __future__ import annotations

from celery import Task
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from screening.scoring import ResponseNotVisible, score
from shared.broker import get_celery
from shared.db import session_scope
from shared.tasks import SCORE_RESPONSE

app = get_celery()


@app.task(
    name=SCORE_RESPONSE.name,
    bind=True,
    # Transient: the database blinked, or the row's commit is not visible yet.
    autoretry_for=(OperationalError, PoolTimeout, ResponseNotVisible),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=8,
)
def score_response(self: Task, response_id: str) -> None:
    with session_scope() as session:
        score(session, response_id)
