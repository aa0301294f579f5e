"""Fixtures for the screening engine tests: the current knowledge, loaded once."""

from __future__ import annotations

import pytest

from screening.knowledge import Knowledge, load_knowledge


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()
