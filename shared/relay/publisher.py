"""Publishing a batch of jobs to the broker in one round trip.

The jobs are ordinary Celery task messages (``send_task``), so the workers
consume them unchanged; kombu's producer batch buffers them and, on Redis,
sends the whole batch as one pipeline. Transports without batching (the
embedded SQLite broker) publish one by one, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.outbox import Job, Publish


def celery_batch_publisher() -> Publish:
    """A :data:`shared.outbox.Publish` through the shared Celery app, failing fast."""
    from shared.broker import get_celery  # imported late: Celery is heavy at import

    app = get_celery()

    def publish(jobs: Sequence[Job]) -> None:
        with app.producer_or_acquire() as producer, producer.batch(max_size=len(jobs) or 1):
            for route, payload in jobs:
                app.send_task(
                    route.name, kwargs=payload, queue=route.queue, producer=producer, retry=False
                )

    return publish
