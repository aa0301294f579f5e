"""Real PostgreSQL and Redis for the tests, and databases migrated for each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

from shared.config import get_settings
from shared.db import get_engine, get_sessionmaker
from shared.migrate import upgrade

REQUIRED = os.environ.get("NEUROSCREEN_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "NEUROSCREEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("NEUROSCREEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_REDIS_DB = int(os.environ.get("NEUROSCREEN_TEST_REDIS_DB", "15"))
"""Integration tests use their own Redis database and flush it: never a developer's data.

Two test runs on one machine at once need two databases (``NEUROSCREEN_TEST_REDIS_DB``)."""


def unavailable(service: str, error: Exception) -> None:
    message = f"{service} is not reachable ({type(error).__name__}: {error})"
    if REQUIRED:
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(f"SKIPPED LOUDLY: {message}; start it to run this test")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True):
            pass
    except Exception as error:
        unavailable("PostgreSQL", error)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_server() -> str:
    base = REDIS_URL.rsplit("/", 1)[0]
    url = f"{base}/{TEST_REDIS_DB}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as error:
        unavailable("Redis", error)
    return url


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """An empty Redis database for one test."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    yield redis_server
    client.flushdb()


def _create_postgres_database(server_url: str) -> tuple[str, str]:
    name = f"neuroscreen_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, server_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, migrated PostgreSQL database for one test."""
    name, url = _create_postgres_database(postgres_server)
    upgrade(url)
    yield url
    _drop_postgres_database(postgres_server, name)


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    url = f"sqlite:///{tmp_path}/neuroscreen.sqlite"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database test runs on the embedded default and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


def reset_caches() -> None:
    get_settings.cache_clear()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()
    from shared.broker import get_celery

    get_celery.cache_clear()


@pytest.fixture
def configured(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: object
) -> Iterator[str]:
    """This process's settings point at a fresh database (both kinds, via ``database_url``)."""
    monkeypatch.setenv("NEUROSCREEN_DATABASE_URL", database_url)
    monkeypatch.setenv("NEUROSCREEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEUROSCREEN_INTAKE_TOKENS", "test-token")
    monkeypatch.setenv("NEUROSCREEN_INTAKE_TOKEN_SCOPES", "system/*.cruds system/neuroscreen.admin")
    reset_caches()
    yield database_url
    get_engine().dispose()
    reset_caches()
