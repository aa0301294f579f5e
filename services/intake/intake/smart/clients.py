"""Registered SMART clients (EHRs): ``NEUROSCREEN_SMART_CLIENTS_FILE``.

The file is a YAML (or JSON) list of ``{client_id, jwks_uri | jwks, scope}``;
``scope`` is the most the client may ever be granted. Adding or changing an
EHR needs no restart (:mod:`intake.smart.registry`: re-read on change or SIGHUP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intake.smart.registry import FileRegistry, http_url
from shared.trust.jwks import InlineKeys, KeySource
from shared.trust.scopes import is_scope_text


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    scope: str
    """The ceiling: granted scopes are the requested ones narrowed to these."""
    keys: KeySource
    jwks_uri: str | None


class ClientRegistry(FileRegistry[RegisteredClient]):
    kind = "clients"

    @property
    def clients(self) -> dict[str, RegisteredClient]:
        return self.entries

    def parse(self, entry: Any, where: str) -> tuple[str, RegisteredClient]:
        client_id, scope = entry.get("client_id"), entry.get("scope")
        jwks_uri, jwks = entry.get("jwks_uri"), entry.get("jwks")
        if not isinstance(client_id, str) or not client_id:
            raise ValueError(f"{where}: client_id is required")
        if client_id.startswith("("):
            raise ValueError(f"{where}: a client_id in parentheses names audit aggregates")
        if not isinstance(scope, str) or not is_scope_text(scope):
            raise ValueError(f"{where}: scope must list SMART system scopes")
        if (jwks_uri is None) == (jwks is None):
            raise ValueError(f"{where}: give exactly one of jwks_uri and jwks")
        if jwks_uri is not None:
            url = http_url(jwks_uri, where, "jwks_uri", self.policy)
            return client_id, RegisteredClient(client_id, scope, self.fetched_keys(url), url)
        return client_id, RegisteredClient(client_id, scope, InlineKeys(jwks), None)
