"""A Celery worker's "ready" file: written when the worker can take jobs, removed at shutdown.

``make run`` waits on it before it says everything is up. The embedded SQLite
broker has no broadcast, so ``celery inspect ping`` (the Kubernetes probe) cannot
ask the worker itself; a file in the data directory works with every broker.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery.signals import worker_ready, worker_shutdown

from shared.config import Settings, get_settings


def ready_file(settings: Settings, queue: str) -> Path:
    return settings.data_dir / f"worker-{queue}.ready"


def announce_readiness(queue: str) -> None:
    """Connect the worker's ready/shutdown signals to the ready file of ``queue``."""

    def ready(**_kwargs: object) -> None:
        path = ready_file(get_settings(), queue)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(os.getpid()))

    def gone(**_kwargs: object) -> None:
        ready_file(get_settings(), queue).unlink(missing_ok=True)

    worker_ready.connect(ready, weak=False)
    worker_shutdown.connect(gone, weak=False)
