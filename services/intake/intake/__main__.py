"""``neuroscreen-intake``: run the intake API with uvicorn."""

from __future__ import annotations

import os

import uvicorn

from shared.config import get_settings
from shared.logs import configure_logging


def main() -> None:
    settings = get_settings()
    configure_logging("intake", settings.log_level)
    uvicorn.run(
        "intake.app:create_app",
        factory=True,
        host=settings.intake_host,
        port=settings.intake_port,
        workers=settings.intake_workers or available_cores(),
        access_log=False,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the whole host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


if __name__ == "__main__":
    main()
