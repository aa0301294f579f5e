"""``neuroscreen-intake``: run the intake API with uvicorn."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import uvicorn

from shared.config import get_settings
from shared.logs import configure_logging


def main() -> None:
    settings = get_settings()
    configure_logging("intake", settings.log_level)
    workers = settings.intake_workers or available_cores()
    if workers > 1:
        _share_metrics_between_workers(settings.data_dir / "prometheus-intake")
    uvicorn.run(
        "intake.app:create_app",
        factory=True,
        host=settings.intake_host,
        port=settings.intake_port,
        workers=workers,
        access_log=False,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


def _share_metrics_between_workers(directory: Path) -> None:
    """Several uvicorn workers: each writes its counters to files that /metrics sums.

    Set before the workers start (they inherit it); emptied so a restart does not add
    the previous run's counts (prometheus_client's multiprocess mode).
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the whole host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


if __name__ == "__main__":
    main()
