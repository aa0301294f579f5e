"""``make run``: every NeuroScreen process on this machine, on the embedded default.

Starts the intake API, the outbox relay, the screening workers (live and bulk), the notify
worker and the notify admin API as child processes with the same commands the containers
use, after migrating the database. Ctrl-C stops them all; if one dies, the
others are stopped too so nothing runs half-configured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DEV_TOKEN = "dev-token"
BIN = Path(sys.executable).parent


def _commands() -> dict[str, list[str]]:
    celery = [str(BIN / "celery")]
    return {
        "intake": [str(BIN / "neuroscreen-intake")],
        "relay": [str(BIN / "neuroscreen-relay")],
        "screening": [
            *celery,
            "-A",
            "screening.worker",
            "worker",
            "-Q",
            "screening",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "-n",
            "screening@%h",
        ],
        # Re-screening runs on their own queue and process, so live responses never wait
        # behind a batch (shared.tasks.RESCREEN_BATCH).
        "screening-bulk": [
            *celery,
            "-A",
            "screening.worker",
            "worker",
            "-Q",
            "screening-bulk",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "-n",
            "screening-bulk@%h",
        ],
        "notify": [
            *celery,
            "-A",
            "notify.worker",
            "worker",
            "-Q",
            "notify",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "-n",
            "notify@%h",
        ],
        "notify-api": [str(BIN / "neuroscreen-notify-api")],
    }


def main() -> int:
    os.environ.setdefault("NEUROSCREEN_INTAKE_TOKENS", DEV_TOKEN)
    from shared.config import get_settings
    from shared.migrate import upgrade

    settings = get_settings()
    upgrade()
    children = {name: subprocess.Popen(cmd) for name, cmd in _commands().items()}
    base = f"http://{settings.intake_host}:{settings.intake_port}/fhir"
    token = settings.intake_tokens[0]
    storage = (
        "SQLite under " + str(settings.data_dir.resolve()) if settings.uses_sqlite else "PostgreSQL"
    )
    print(
        f"\nNeuroScreen is starting ({storage}).\n"
        f"  FHIR base URL:  {base}\n"
        f"  Bearer token:   {token}\n"
        f"  Notify admin:   http://{settings.notify_host}:{settings.notify_port}/admin/deliveries\n"
        f"  EHR:            {settings.ehr_base_url or 'none (alerts kept locally, state held)'}\n"
        "Ctrl-C stops everything.\n",
        flush=True,
    )
    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping the rest", flush=True)
                exit_code, stopping = 1, True
                break
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.wait(timeout=40)
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
