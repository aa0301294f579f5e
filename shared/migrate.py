"""``neuroscreen-migrate``: bring the database schema to the newest revision.

Safe to run from several containers at once: on PostgreSQL the upgrade runs
under an advisory lock, so one process migrates and the others wait, then
find nothing left to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from shared.config import get_settings
from shared.db import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_ID = 0x4E53_4D47  # "NSMG": any constant shared by every migrating process

log = logging.getLogger("neuroscreen.migrate")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(database_url: str | None = None) -> None:
    """Apply every pending migration to ``database_url`` (default: the settings')."""
    engine = make_engine(database_url or get_settings().database_url, pool_size=1)
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    upgrade()
    log.info("database schema is up to date")


if __name__ == "__main__":
    main()
