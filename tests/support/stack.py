"""Real NeuroScreen processes for integration tests, started as the containers start them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token"
TOKEN_SCOPES = "system/*.cruds system/neuroscreen.admin"
"""The tests' static token may do everything, admin included: configured explicitly, since
a static token carries no admin scope by default (issue 18, item 7)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PATIENCE = float(os.environ.get("NEUROSCREEN_TEST_PATIENCE", "3"))
"""Every wait's limit is multiplied by this: a limit is a hang detector, never a timing target
(those live in bench/), and a loaded CI machine must not turn a slow pass into a failure."""


def wait_until(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` otherwise."""
    timeout *= PATIENCE
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:
            last_error = error
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what} (last error: {last_error})"
    )


COMMANDS = {
    "intake": [str(BIN / "neuroscreen-intake")],
    "screening": [
        str(BIN / "celery"),
        "-A",
        "screening.worker",
        "worker",
        "-Q",
        "screening",
        "--concurrency",
        "1",
        "--loglevel",
        "WARNING",
        "-n",
        "screening-{n}@%h",
    ],
    "screening-bulk": [
        str(BIN / "celery"),
        "-A",
        "screening.worker",
        "worker",
        "-Q",
        "screening-bulk",
        "--concurrency",
        "1",
        "--loglevel",
        "WARNING",
        "-n",
        "screening-bulk-{n}@%h",
    ],
    "notify": [
        str(BIN / "celery"),
        "-A",
        "notify.worker",
        "worker",
        "-Q",
        "notify",
        "--concurrency",
        "1",
        "--loglevel",
        "WARNING",
        "-n",
        "notify-{n}@%h",
    ],
    "notify-api": [str(BIN / "neuroscreen-notify-api")],
    "relay": [str(BIN / "neuroscreen-relay")],
}


@dataclass
class Stack:
    """A set of NeuroScreen processes sharing one environment (database, broker, ports)."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _counter: int = 0

    @classmethod
    def create(cls, database_url: str, broker_url: str, log_dir: Path, **extra: str) -> Stack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROSCREEN_")}
        env.update(
            NEUROSCREEN_DATABASE_URL=database_url,
            NEUROSCREEN_BROKER_URL=broker_url,
            NEUROSCREEN_INTAKE_TOKENS=TOKEN,
            NEUROSCREEN_INTAKE_TOKEN_SCOPES=TOKEN_SCOPES,
            NEUROSCREEN_INTAKE_PORT=str(free_port()),
            NEUROSCREEN_NOTIFY_PORT=str(free_port()),
            NEUROSCREEN_DATA_DIR=str(log_dir / "data"),
            NEUROSCREEN_RELAY_INTERVAL_SECONDS="0.1",
            NEUROSCREEN_LOG_LEVEL="INFO",
        )
        env.update({f"NEUROSCREEN_{k.upper()}": v for k, v in extra.items()})
        return cls(env=env, log_dir=log_dir)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['NEUROSCREEN_INTAKE_PORT']}/fhir"

    @property
    def notify_url(self) -> str:
        return f"http://127.0.0.1:{self.env['NEUROSCREEN_NOTIFY_PORT']}"

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"},
            timeout=30,
        )

    def start(self, name: str, **env: str) -> str:
        """Start one process of kind ``name``; returns its key (e.g. ``screening-2``)."""
        self._counter += 1
        key = f"{name}-{self._counter}"
        command = [part.replace("{n}", str(self._counter)) for part in COMMANDS[name]]
        log = (self.log_dir / f"{key}.log").open("ab")
        self.processes[key] = subprocess.Popen(
            command, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        if name == "intake":
            wait_until(lambda: self._ready(self.base_url[:-5] + "/healthz"), 30, "intake")
        elif name == "notify-api":
            wait_until(lambda: self._ready(self.notify_url + "/healthz"), 30, "notify API")
        return key

    def key_of(self, name: str) -> str:
        """The key of a running process of kind ``name`` (``notify`` is not ``notify-api``)."""
        return next(key for key in self.processes if key.rsplit("-", 1)[0] == name)

    def stop(self, key: str, sig: int = signal.SIGTERM, timeout: float = 40) -> None:
        process = self.processes.pop(key)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self, key: str) -> None:
        """SIGKILL, as a crashed node or the OOM killer would: no cleanup at all."""
        process = self.processes.pop(key)
        process.kill()
        process.wait()

    def stop_all(self) -> None:
        for key in list(self.processes):
            self.stop(key)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    @staticmethod
    def _ready(url: str) -> bool:
        return httpx.get(url, timeout=1).status_code == 200
