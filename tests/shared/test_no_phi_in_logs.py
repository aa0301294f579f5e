"""Protected health information stays out of logs and error messages."""

from __future__ import annotations

import logging

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from shared.db import make_engine
from shared.logs import JsonFormatter

SECRET = "Jane Doe MRN-123"


def render(record: logging.LogRecord) -> dict:
    return orjson.loads(JsonFormatter("test").format(record))


def test_only_whitelisted_fields_reach_the_log():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "scored", None, None)
    record.response_id = "r-1"
    record.answers = {"name": SECRET}
    entry = render(record)
    assert entry["response_id"] == "r-1"
    assert "answers" not in entry
    assert SECRET not in str(entry)


def test_exceptions_are_logged_by_type_only():
    try:
        raise ValueError(f"bad value {SECRET}")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info()
        )
    entry = render(record)
    assert entry["exception"] == "ValueError"
    assert SECRET not in str(entry)


def test_database_errors_never_quote_statement_parameters(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/x.sqlite")
    with pytest.raises(OperationalError) as caught, engine.connect() as connection:
        connection.execute(text("INSERT INTO missing VALUES (:resource)"), {"resource": SECRET})
    assert SECRET not in str(caught.value)
