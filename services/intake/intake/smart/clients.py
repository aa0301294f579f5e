"""Registered SMART clients (EHRs): ``NEUROSCREEN_SMART_CLIENTS_FILE``.

The file is a YAML (or JSON) list of ``{client_id, jwks_uri | jwks, scope}``;
``scope`` is the most the client may ever be granted. Adding or changing an
EHR needs no restart: the file is re-read when it changes (checked at most
once a second) or on SIGHUP. A file that no longer parses is reported and the
previous registrations stay in force.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from shared.trust.jwks import FetchedKeys, FetchPolicy, InlineKeys, KeySource
from shared.trust.scopes import is_scope_text

log = logging.getLogger("neuroscreen.intake.clients")


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    scope: str
    """The ceiling: granted scopes are the requested ones narrowed to these."""
    keys: KeySource
    jwks_uri: str | None


class ClientRegistry:
    def __init__(
        self, path: Path | None, http: httpx.AsyncClient, policy: FetchPolicy | None = None
    ) -> None:
        self.path = path
        self.http = http
        self.policy = policy or FetchPolicy()
        self.clients: dict[str, RegisteredClient] = {}
        self._mtime: float | None = None
        self._checked = 0.0
        self._reload_requested = False
        if path is not None:
            self.clients = self._load(path)
            self._mtime = path.stat().st_mtime

    def get(self, client_id: str) -> RegisteredClient | None:
        self._maybe_reload()
        return self.clients.get(client_id)

    def request_reload(self) -> None:
        """SIGHUP: re-read the file on the next look-up."""
        self._reload_requested = True

    def _maybe_reload(self) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if not self._reload_requested and now - self._checked < 1.0:
            return
        self._checked = now
        try:
            mtime = self.path.stat().st_mtime
            if self._reload_requested or mtime != self._mtime:
                self._reload_requested = False
                self.clients = self._load(self.path)
                self._mtime = mtime
        except (OSError, ValueError, yaml.YAMLError) as error:
            log.warning("clients file not reloaded", extra={"error": str(error)[:200]})

    def _load(self, path: Path) -> dict[str, RegisteredClient]:
        entries = yaml.safe_load(path.read_text()) or []
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a list of clients")
        clients: dict[str, RegisteredClient] = {}
        for index, entry in enumerate(entries):
            client = self._client(entry, f"{path}[{index}]")
            if client.client_id in clients:
                raise ValueError(f"{path}[{index}]: client_id registered twice")
            clients[client.client_id] = client
        log.info("clients loaded", extra={"clients": sorted(clients)})
        return clients

    def _client(self, entry: Any, where: str) -> RegisteredClient:
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping")
        client_id, scope = entry.get("client_id"), entry.get("scope")
        jwks_uri, jwks = entry.get("jwks_uri"), entry.get("jwks")
        if not isinstance(client_id, str) or not client_id:
            raise ValueError(f"{where}: client_id is required")
        if not isinstance(scope, str) or not is_scope_text(scope):
            raise ValueError(f"{where}: scope must list SMART system scopes")
        if (jwks_uri is None) == (jwks is None):
            raise ValueError(f"{where}: give exactly one of jwks_uri and jwks")
        if jwks_uri is not None:
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ValueError(f"{where}: jwks_uri must be an http(s) URL")
            return RegisteredClient(client_id, scope, self._fetched(jwks_uri), jwks_uri)
        return RegisteredClient(client_id, scope, InlineKeys(jwks), None)

    def _fetched(self, url: str) -> FetchedKeys:
        # Keep a known URL's cache (and its last good key set) across reloads.
        for client in self.clients.values():
            if client.jwks_uri == url and isinstance(client.keys, FetchedKeys):
                return client.keys
        return FetchedKeys(url, self.http, self.policy)
