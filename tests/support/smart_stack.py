"""A real intake (uvicorn, PostgreSQL, Redis) with registered SMART clients, one per test module.

Each test module starts one with :func:`start_smart_stack` in a module fixture. Clients:

- ``ehr-full``: ES384 key inline; every scope the intake has, admin included;
- ``ehr-remote``: RS384 key behind a ``jwks_uri`` (a local HTTP server);
- ``ehr-writer``: may only create QuestionnaireResponses;
- ``ehr-v1``: SMART v1 scopes (``.read``/``.write``) on QuestionnaireResponse;
- ``ehr-twins``: two keys with the same ``kid``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.migrate import upgrade
from support.services import _create_postgres_database, _drop_postgres_database
from support.smart import (
    JwksServer,
    assertion,
    ec_key,
    jwks_server,
    public_jwks,
    rsa_key,
    token_request,
    write_clients,
)
from support.stack import Stack

FULL_SCOPE = (
    "system/QuestionnaireResponse.cruds system/RiskAssessment.rs system/Observation.rs "
    "system/ServiceRequest.rs system/Questionnaire.rs system/CodeSystem.rs "
    "system/neuroscreen.admin"
)


@dataclass
class SmartStack:
    stack: Stack
    keys: dict[str, object]
    jwks: JwksServer
    clients_file: Path

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    @property
    def token_url(self) -> str:
        return self.base_url + "/auth/token"

    def assertion(self, client_id: str, **options: object) -> str:
        return assertion(self.keys[client_id], client_id, self.token_url, **options)  # type: ignore[arg-type]

    def token(self, client_id: str, scope: str) -> str:
        reply = token_request(self.base_url, self.assertion(client_id), scope)
        assert reply.status_code == 200, reply.text
        return reply.json()["access_token"]

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
            timeout=30,
        )


def start_smart_stack(
    postgres_server: str,
    redis_server: str,
    tmp: Path,
    *,
    database: str = "postgres",
    **settings: str,
) -> Iterator[SmartStack]:
    """``database``: ``postgres`` (a new database on the server) or ``sqlite`` (a file in tmp)."""
    keys: dict[str, object] = {
        "ehr-full": ec_key("full-1"),
        "ehr-remote": rsa_key("remote-1"),
        "ehr-writer": ec_key("writer-1"),
        "ehr-v1": rsa_key("v1-1"),
        "ehr-twins": ec_key("twin"),
    }
    twin_other = ec_key("twin")
    if database == "sqlite":
        name, url = "", f"sqlite:///{tmp}/neuroscreen.sqlite"
    else:
        name, url = _create_postgres_database(postgres_server)
    upgrade(url)
    with jwks_server(public_jwks(keys["ehr-remote"])) as server:  # type: ignore[arg-type]
        clients_file = write_clients(
            tmp / "clients.json",
            [
                {
                    "client_id": "ehr-full",
                    "jwks": public_jwks(keys["ehr-full"]),
                    "scope": FULL_SCOPE,
                },
                {
                    "client_id": "ehr-remote",
                    "jwks_uri": server.url,
                    "scope": "system/QuestionnaireResponse.cruds",
                },
                {
                    "client_id": "ehr-writer",
                    "jwks": public_jwks(keys["ehr-writer"]),
                    "scope": "system/QuestionnaireResponse.c",
                },
                {
                    "client_id": "ehr-v1",
                    "jwks": public_jwks(keys["ehr-v1"]),
                    "scope": "system/QuestionnaireResponse.read system/QuestionnaireResponse.write",
                },
                {
                    "client_id": "ehr-twins",
                    "jwks": public_jwks(keys["ehr-twins"], twin_other),
                    "scope": "system/QuestionnaireResponse.c",
                },
            ],
        )
        stack = Stack.create(
            url,
            redis_server,
            tmp,
            smart_clients_file=str(clients_file),
            **{"token_requests_per_minute": "6000", **settings},
        )
        stack.start("intake")
        try:
            yield SmartStack(stack, keys, server, clients_file)
        finally:
            stack.stop_all()
            if name:
                _drop_postgres_database(postgres_server, name)
