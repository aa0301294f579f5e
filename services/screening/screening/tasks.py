"""The screening task: a thin wrapper that opens the transaction and calls :func:`score`.

No Celery retries: a run that fails (the database blinked) leaves the response
``received`` and overdue, and the relay enqueues it again (README, "Delivery
guarantees"). ``acks_late`` (shared/broker.py) covers a worker killed mid-run.
"""

from __future__ import annotations

from screening.rescreen import run_batch
from screening.scoring import score
from shared.broker import get_celery
from shared.config import get_settings
from shared.db import session_scope
from shared.tasks import RESCREEN_BATCH, SCORE_BACKLOG, SCORE_RESPONSE

app = get_celery()


@app.task(name=SCORE_RESPONSE.name)
def score_response(response_id: str) -> None:
    with session_scope() as session:
        score(session, response_id)


@app.task(name=SCORE_BACKLOG.name)
def score_backlog(response_id: str) -> None:
    """An imported response: the same scoring, from the ``screening-bulk`` queue."""
    with session_scope() as session:
        score(session, response_id)


@app.task(name=RESCREEN_BATCH.name)
def rescreen_batch(run_id: str, batch: int) -> None:
    with session_scope() as session:
        run_batch(session, run_id, batch, batch_size=get_settings().rescreen_batch_size)
