"""Database engine and the one transaction boundary.

A request (intake) or a task (workers) opens one :func:`session_scope`; code
below it only adds and flushes, and the scope commits once at the end. That
single commit is what makes "stored" and "queued" the same event (see
:mod:`shared.outbox`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.config import get_settings


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets readers run beside the single writer; busy_timeout turns lock
    # contention into waiting instead of "database is locked" errors.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SQLITE_FILES = ("", "-wal", "-shm", "-journal")
"""The database file and the files SQLite keeps beside it; all hold PHI."""


def keep_sqlite_private(url: str) -> None:
    """The SQLite database and its WAL files are readable by their owner only (0600).

    The database file is created here with that mode before SQLite opens it, because
    SQLite creates the -wal and -shm files with the database file's mode; files left
    0644 by an earlier version are narrowed too (issue 18, item 11).
    """
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite itself says it cannot open the file
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for suffix in SQLITE_FILES:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.chmod(0o600)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url``: SQLite (embedded default) or PostgreSQL via psycopg 3."""
    if url.startswith("sqlite"):
        keep_sqlite_private(url)
        engine = create_engine(
            url,
            connect_args={"timeout": 15, "check_same_thread": False},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        # Statement parameters hold resources (PHI): keep them out of every error message.
        hide_parameters=True,
        # A dead database must surface as a quick 503, not a hung request.
        connect_args={"connect_timeout": 3},
    )


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    return make_engine(settings.database_url, pool_size=settings.database_pool_size)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
