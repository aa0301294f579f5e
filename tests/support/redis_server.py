"""A private redis-server process, so a test can take "the broker" down and bring it back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from support.services import REQUIRED
from support.stack import free_port, wait_until


class PrivateRedis:
    def __init__(self, directory: Path, *, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed"
            if REQUIRED:
                pytest.fail(message + "; CI requires it", pytrace=False)
            pytest.skip("SKIPPED LOUDLY: " + message)
        self.binary = binary
        self.port = free_port()
        self.directory = directory
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.ping, 10, "private redis-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def ping(self) -> bool:
        return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())

    def queue_length(self, queue: str) -> int:
        return int(redis.Redis.from_url(self.url).llen(queue))
