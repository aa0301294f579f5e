"""``neuroscreen-intake``: run the intake API with uvicorn."""

from __future__ import annotations

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
        workers=settings.intake_workers,
        access_log=False,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
