"""Python side of the test EHR: a real FHIR R4 server (tests/ehr/server.mjs, Medplum's
FhirRouter over its in-memory repository) that integration tests use in place of the EHR.

    from ehr_server import EhrServer

    with EhrServer(token="s3cret") as ehr:
        client = ehr.client()                       # httpx.Client on ehr.base_url, auth set
        client.post("", json=bundle)                # a transaction Bundle at the FHIR base
        ehr.configure(fail_after=1.0)               # stored, then 503: a lost acknowledgement
        assert ehr.search("Task", {"owner": "Practitioner/dr-1"})
        ehr.reset()                                 # empty EHR, start-up config again

    SMART Backend Services (tests/ehr/smart-auth.mjs): register a client and /fhir then
    wants the tokens of ``ehr.token_url`` (the static token, if any, still works too):

        ehr.register_client("neuroscreen", scope="system/*.cruds", jwks_uri=".../jwks.json")
        ehr.configure_smart(token_lifetime=6)      # short tokens: refresh is exercised
        ehr.revoke_tokens()                         # every issued token now gets 401
        ehr.smart()["stats"]                        # tokensIssued, tokenErrors, forbidden...

Fixtures: ``ehr_session`` (one server per test session) and ``ehr`` (the same server, reset
before each test). Use them from a conftest.py with ``from ehr_server import ehr, ehr_session``.

Node >= 20.19 and npm are required: ``ensure_node_modules()`` runs ``npm ci`` in tests/ehr when
needed and raises ``EhrSetupError`` (never skips) when Node or npm is missing.
"""

from __future__ import annotations

import fcntl
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx
import pytest

EHR_DIR = Path(__file__).resolve().parent / "ehr"
SERVER_SCRIPT = EHR_DIR / "server.mjs"
MIN_NODE_VERSION = (20, 19)  # the `engines` range of @medplum/* 4.5.2

SearchParams = Mapping[str, str] | Sequence[tuple[str, str]]


class EhrSetupError(RuntimeError):
    """The test EHR cannot be installed or started (missing Node/npm, npm ci failure, crash)."""


class _Unset:
    """Marker for 'argument not given' where None is a meaningful value."""


_UNSET = _Unset()


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise EhrSetupError(
            f"`{name}` not found on PATH. The test EHR (tests/ehr) needs Node.js >= "
            f"{MIN_NODE_VERSION[0]}.{MIN_NODE_VERSION[1]} and npm; install them "
            "(e.g. `apt-get install nodejs npm`) — these tests are never skipped."
        )
    return path


def _check_node_version(node: str) -> None:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.match(r"v(\d+)\.(\d+)", out.strip())
    if match is None or (int(match[1]), int(match[2])) < MIN_NODE_VERSION:
        raise EhrSetupError(
            f"Node {out.strip()} is too old for @medplum/* 4.5.2: need >= "
            f"{MIN_NODE_VERSION[0]}.{MIN_NODE_VERSION[1]}"
        )


def _install_is_stale() -> bool:
    # npm writes node_modules/.package-lock.json on every install: if it is older than the
    # committed lock (or package.json), node_modules no longer matches what the lock pins.
    stamp = EHR_DIR / "node_modules" / ".package-lock.json"
    if not stamp.exists():
        return True
    installed = stamp.stat().st_mtime
    return any(
        (EHR_DIR / name).stat().st_mtime > installed
        for name in ("package-lock.json", "package.json")
    )


def ensure_node_modules(*, timeout: float = 600.0) -> None:
    """Runs `npm ci` in tests/ehr if node_modules is missing or older than the lock file.

    Safe to call from parallel test workers: a file lock makes one of them install.
    """
    node = _require_tool("node")
    npm = _require_tool("npm")
    _check_node_version(node)
    lock_path = Path(tempfile.gettempdir()) / f"neuroscreen-ehr-npm-{os.getuid()}.lock"
    with lock_path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not _install_is_stale():
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=EHR_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise EhrSetupError(
                f"`npm ci` in {EHR_DIR} failed with exit code {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )


class EhrServer:
    """One test-EHR process. Start with `start()` or a `with` block; `stop()` kills it."""

    def __init__(
        self,
        *,
        token: str | None = None,
        fail_before: float = 0.0,
        fail_after: float = 0.0,
        delay_ms: int = 0,
        seed: int | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        lenient: bool = False,
        token_lifetime: int = 300,
        startup_timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.token = token
        self._initial_token = token
        self._args = ["--port", str(port), "--host", host, "--exit-with-stdin"]
        self._args += ["--fail-before", str(fail_before), "--fail-after", str(fail_after)]
        self._args += ["--delay-ms", str(delay_ms), "--token-lifetime", str(token_lifetime)]
        if token is not None:
            self._args += ["--token", token]
        if seed is not None:
            self._args += ["--seed", str(seed)]
        if lenient:
            self._args.append("--lenient")
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._admin: httpx.Client | None = None
        self._port: int | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        if self._proc is not None:
            raise EhrSetupError("EhrServer already started")
        ensure_node_modules()
        node = _require_tool("node")
        # Flags are explicit, so a stray EHR_* variable in the caller's env must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("EHR_")}
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives until stop()
            "w+", prefix="neuroscreen-ehr-", suffix=".log", delete=False
        )
        self._proc = subprocess.Popen(
            [node, str(SERVER_SCRIPT), *self._args],
            cwd=EHR_DIR,
            env=env,
            stdin=subprocess.PIPE,  # closing it makes the server exit (--exit-with-stdin)
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        try:
            self._port = self._wait_for_port()
        except BaseException:
            self.stop()
            raise
        self._admin = httpx.Client(base_url=self.root_url, timeout=10.0, trust_env=False)
        return self

    def _wait_for_port(self) -> int:
        assert self._proc is not None
        assert self._proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()

        def pump(stream: IO[str]) -> None:
            # Keeps draining stdout for the server's lifetime, so it can never block on a pipe.
            for line in stream:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, args=(self._proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + self._startup_timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                if self._proc.poll() is not None:
                    break
                continue
            if line is None:
                break
            if line.startswith("LISTENING "):
                return int(line.split()[1])
        state = (
            f"exited with code {self._proc.returncode}"
            if self._proc.poll() is not None
            else f"printed no LISTENING line within {self._startup_timeout:.0f}s"
        )
        raise EhrSetupError(f"test EHR {state}. Its log:\n{self.log_text()}")

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def log_text(self) -> str:
        """The server's stderr so far: one line per request, plus any crash output."""
        if self._log is None:
            return ""
        return Path(self._log.name).read_text(errors="replace")

    # -- addresses and clients --------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise EhrSetupError("EhrServer not started")
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The FHIR base, e.g. http://127.0.0.1:PORT/fhir."""
        return f"{self.root_url}/fhir"

    @property
    def token_url(self) -> str:
        """The SMART token endpoint: the exact ``aud`` client assertions must carry."""
        return f"{self.root_url}/auth/token"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self, *, timeout: float = 10.0, **kwargs: Any) -> httpx.Client:
        """An httpx client on the FHIR base (the path the notify service uses: faults apply)."""
        headers = {"Accept": "application/fhir+json", **self.auth_headers()}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, trust_env=False, **kwargs
        )

    # -- admin ------------------------------------------------------------------------------

    def _admin_client(self) -> httpx.Client:
        if self._admin is None:
            raise EhrSetupError("EhrServer not started")
        return self._admin

    def configure(
        self,
        *,
        fail_before: float | None = None,
        fail_after: float | None = None,
        delay_ms: int | None = None,
        down: bool | None = None,
        token: str | _Unset | None = _UNSET,
    ) -> dict[str, Any]:
        """Changes fault injection at run time; only the given settings change.

        token=None turns auth off, a string turns it on. Returns the whole new config.
        """
        patch: dict[str, Any] = {
            key: value
            for key, value in {
                "failBefore": fail_before,
                "failAfter": fail_after,
                "delayMs": delay_ms,
                "down": down,
            }.items()
            if value is not None
        }
        if not isinstance(token, _Unset):
            patch["token"] = token
        response = self._admin_client().post("/admin/config", json=patch)
        response.raise_for_status()
        if not isinstance(token, _Unset):
            self.token = token
        return response.json()

    # -- SMART Backend Services -------------------------------------------------------------

    def register_client(
        self,
        client_id: str,
        *,
        scope: str,
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
        secret: str | None = None,
    ) -> None:
        """Registers (or replaces) a client: ``scope`` is what it may be granted; it signs in
        with a key from ``jwks``/``jwks_uri`` (private_key_jwt) or with ``secret`` (Basic)."""
        client = {"clientId": client_id, "scope": scope, "jwks": jwks, "jwksUri": jwks_uri}
        client["secret"] = secret
        body = {key: value for key, value in client.items() if value is not None}
        response = self._admin_client().post("/admin/smart/clients", json=body)
        if response.status_code != 200:
            raise AssertionError(f"register_client: {response.status_code} {response.text}")

    def remove_client(self, client_id: str) -> None:
        self._admin_client().delete(f"/admin/smart/clients/{client_id}").raise_for_status()

    def configure_smart(
        self, *, token_lifetime: int | None = None, down: bool | None = None
    ) -> dict[str, Any]:
        """Token lifetime in seconds; ``down=True`` answers the token endpoint 503."""
        patch = {"tokenLifetime": token_lifetime, "down": down}
        response = self._admin_client().post(
            "/admin/smart/config", json={k: v for k, v in patch.items() if v is not None}
        )
        response.raise_for_status()
        return response.json()

    def revoke_tokens(self) -> int:
        """Forgets every issued access token (as an EHR restart or revocation would)."""
        response = self._admin_client().post("/admin/smart/revoke")
        response.raise_for_status()
        return response.json()["revoked"]

    def smart(self) -> dict[str, Any]:
        """Clients, config, live token count and stats (tokensIssued, tokenErrors,
        lastTokenError, unauthorized, forbidden)."""
        response = self._admin_client().get("/admin/smart")
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        """Counters since start/reset: requests, reads, writes, failBefore, failAfter, down,
        unauthorized, rolledBack, byStatus, and resources (stored count per type)."""
        response = self._admin_client().get("/admin/stats")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Empties the repository, zeroes stats, restores the start-up config and seed,
        and forgets SMART clients and tokens."""
        self._admin_client().post("/admin/reset").raise_for_status()
        self.token = self._initial_token

    # -- inspection (read-only, bypasses auth/faults/delay/stats) -----------------------------

    def search(
        self, resource_type: str, params: SearchParams | None = None
    ) -> list[dict[str, Any]]:
        """All resources of `resource_type` matching `params`, e.g.
        search("Task", {"identifier": "http://neuroscreen.org/fhir/task-id|t-1"})."""
        response = self._admin_client().get(f"/admin/fhir/{resource_type}", params=params or {})
        if response.status_code != 200:
            raise AssertionError(
                f"search {resource_type} {params}: {response.status_code} {response.text}"
            )
        return [entry["resource"] for entry in response.json().get("entry", [])]

    def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """The resource, or None if it does not exist."""
        response = self._admin_client().get(f"/admin/fhir/{resource_type}/{resource_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def read_reference(self, reference: str) -> dict[str, Any] | None:
        """Reads "Type/id" (the form the EHR stores after resolving urn:uuid references)."""
        resource_type, _, resource_id = reference.partition("/")
        return self.read(resource_type, resource_id)


# -- pytest fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ehr_session() -> Iterator[EhrServer]:
    """One test EHR for the whole session (starting one costs ~1 s)."""
    with EhrServer() as server:
        yield server


@pytest.fixture
def ehr(ehr_session: EhrServer) -> Iterator[EhrServer]:
    """The session's test EHR, emptied and back to its start-up config for this test."""
    ehr_session.reset()
    yield ehr_session
    ehr_session.reset()
