"""``make run`` for tests: ``deploy/local/run.py`` itself, on the embedded default.

Runs the very script a new user runs (SQLite database, SQLite broker, every
service as a child process) in a private data directory on free ports, and
reads its terminal output until the "ready" line.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from support.stack import PATIENCE, ROOT, free_port

READY = "NeuroScreen is ready:"


@dataclass
class LocalRun:
    process: subprocess.Popen[str]
    data_dir: Path
    intake_port: int
    notify_port: int
    output: list[str] = field(default_factory=list)
    _lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.intake_port}/fhir"

    @property
    def notify_url(self) -> str:
        return f"http://127.0.0.1:{self.notify_port}"

    def wait_for_line(self, starting: str, timeout: float) -> str:
        """The first terminal line that starts with ``starting`` (hang detector: ``timeout``)."""
        while True:
            try:
                line = self._lines.get(timeout=timeout * PATIENCE)
            except queue.Empty:
                raise AssertionError(
                    f"no {starting!r} line after {timeout * PATIENCE:.0f}s; output so far:\n"
                    + "\n".join(self.output)
                ) from None
            if line is None:
                raise AssertionError("make run exited; output:\n" + "\n".join(self.output))
            if line.startswith(starting):
                return line

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # what Ctrl-C does
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


@contextmanager
def local_run(tmp: Path, *arguments: str, **settings: str) -> Iterator[LocalRun]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROSCREEN_")}
    intake_port, notify_port = free_port(), free_port()
    env.update(
        NEUROSCREEN_DATA_DIR=str(tmp / "var"),
        NEUROSCREEN_INTAKE_PORT=str(intake_port),
        NEUROSCREEN_NOTIFY_PORT=str(notify_port),
        PYTHONUNBUFFERED="1",
    )
    env.update({f"NEUROSCREEN_{k.upper()}": v for k, v in settings.items()})
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy/local/run.py"), *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run = LocalRun(process, tmp / "var", intake_port, notify_port)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.output.append(line.rstrip("\n"))
            run._lines.put(line.rstrip("\n"))
        run._lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        yield run
    finally:
        run.stop()
