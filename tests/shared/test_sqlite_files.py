"""The embedded default's SQLite files hold PHI: owner-only (0600), WAL files included, and
files an earlier version left 0644 are narrowed at start (issue 18, item 11)."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from shared.db import make_engine
from shared.migrate import upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_wal_files_are_owner_only(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/neuroscreen.sqlite"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:  # a write: the -wal and -shm files exist now
        connection.execute(text("CREATE TABLE probe (value TEXT)"))
        connection.execute(text("INSERT INTO probe VALUES ('x')"))
    files = sorted(tmp_path.glob("neuroscreen.sqlite*"))
    assert {f.name for f in files} >= {
        "neuroscreen.sqlite",
        "neuroscreen.sqlite-wal",
        "neuroscreen.sqlite-shm",
    }
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    engine.dispose()


def test_files_left_readable_by_others_are_narrowed(tmp_path: Path):
    database = tmp_path / "neuroscreen.sqlite"
    for name in ("neuroscreen.sqlite", "neuroscreen.sqlite-wal"):
        (tmp_path / name).touch()
        (tmp_path / name).chmod(0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert mode(database) == 0o600
    assert mode(tmp_path / "neuroscreen.sqlite-wal") == 0o600
