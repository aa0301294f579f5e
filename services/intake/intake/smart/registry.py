"""A registry of trusted parties kept in a YAML or JSON file, re-read without a restart.

SMART clients (``NEUROSCREEN_SMART_CLIENTS_FILE``) and CDS Hooks issuers
(``NEUROSCREEN_CDS_ISSUERS_FILE``) are both lists of entries, each with a key
set (a ``jwks_uri`` fetched and cached, or inline ``jwks``). The file is
re-read when it changes (checked at most once a second) or on SIGHUP; a file
that no longer parses is reported and the previous registrations stay in
force. A ``jwks_uri`` that stays registered keeps its cache (and its last good
key set) across reloads.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import yaml

from shared.trust.jwks import FetchedKeys, FetchPolicy

log = logging.getLogger("neuroscreen.intake.registry")
Entry = TypeVar("Entry")


class FileRegistry(ABC, Generic[Entry]):
    """Entries by name, parsed from ``path`` by ``parse(entry, where) -> (name, Entry)``."""

    kind = "entries"

    def __init__(
        self, path: Path | None, http: httpx.AsyncClient, policy: FetchPolicy | None = None
    ) -> None:
        self.path = path
        self.http = http
        self.policy = policy or FetchPolicy()
        self.entries: dict[str, Entry] = {}
        self._fetched_keys: dict[str, FetchedKeys] = {}
        self._mtime: float | None = None
        self._checked = 0.0
        self._reload_requested = False
        if path is not None:
            self.entries = self._load(path)
            self._mtime = path.stat().st_mtime

    def get(self, name: str) -> Entry | None:
        self._maybe_reload()
        return self.entries.get(name)

    def request_reload(self) -> None:
        """SIGHUP: re-read the file on the next look-up."""
        self._reload_requested = True

    @abstractmethod
    def parse(self, entry: Any, where: str) -> tuple[str, Entry]:
        """One entry of the file as ``(name, entry)``; each registry knows its own shape."""

    def fetched_keys(self, url: str) -> FetchedKeys:
        """The key set behind ``url``: one cache per URL, kept across reloads."""
        keys = self._fetched_keys.get(url)
        if keys is None:
            keys = self._fetched_keys[url] = FetchedKeys(url, self.http, self.policy)
        return keys

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
                self.entries = self._load(self.path)
                self._mtime = mtime
        except (OSError, ValueError, yaml.YAMLError) as error:
            log.warning(f"{self.kind} file not reloaded", extra={"error": str(error)[:200]})

    def _load(self, path: Path) -> dict[str, Entry]:
        entries = yaml.safe_load(path.read_text()) or []
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a list of {self.kind}")
        loaded: dict[str, Entry] = {}
        for index, raw in enumerate(entries):
            where = f"{path}[{index}]"
            if not isinstance(raw, dict):
                raise ValueError(f"{where}: expected a mapping")
            name, entry = self.parse(raw, where)
            if name in loaded:
                raise ValueError(f"{where}: registered twice")
            loaded[name] = entry
        log.info(f"{self.kind} loaded", extra={self.kind: sorted(loaded)})
        return loaded


def http_url(value: Any, where: str, field: str, policy: FetchPolicy) -> str:
    if policy.https_only and not (isinstance(value, str) and value.startswith("https://")):
        raise ValueError(f"{where}: {field} must be an https URL (NEUROSCREEN_ENV=production)")
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ValueError(f"{where}: {field} must be an http(s) URL")
    return value
