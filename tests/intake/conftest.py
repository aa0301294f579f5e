"""One real intake process (uvicorn) on PostgreSQL and Redis for the API tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.services import _create_postgres_database, _drop_postgres_database
from support.smart_stack import SmartStack, start_smart_stack
from support.stack import Stack

from shared.migrate import upgrade


@pytest.fixture(scope="module")
def intake_stack(
    postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    name, url = _create_postgres_database(postgres_server)
    upgrade(url)
    stack = Stack.create(url, redis_server, Path(tmp_path_factory.mktemp("intake")))
    stack.start("intake")
    yield stack
    stack.stop_all()
    _drop_postgres_database(postgres_server, name)


@pytest.fixture
def api(intake_stack: Stack) -> Iterator[httpx.Client]:
    with intake_stack.client() as client:
        yield client


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def smart_each_database(
    request: pytest.FixtureRequest,
    postgres_server: str,
    redis_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SmartStack]:
    """A real intake with the SMART test clients, on the embedded default and on PostgreSQL:
    the attacks of the security review are refused on both."""
    tmp = Path(tmp_path_factory.mktemp(f"smart-{request.param}"))
    yield from start_smart_stack(postgres_server, redis_server, tmp, database=request.param)
