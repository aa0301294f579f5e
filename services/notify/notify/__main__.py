"""``neuroscreen-notify-api``: run the notify admin API with uvicorn."""

from __future__ import annotations

import uvicorn

from shared.config import get_settings
from shared.logs import configure_logging


def main() -> None:
    settings = get_settings()
    configure_logging("notify", settings.log_level)
    uvicorn.run(
        "notify.app:create_app",
        factory=True,
        host=settings.notify_host,
        port=settings.notify_port,
        access_log=False,
        log_config=None,
        server_header=False,
    )


if __name__ == "__main__":
    main()
