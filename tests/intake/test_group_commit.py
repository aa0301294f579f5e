"""Group commit on PostgreSQL: concurrent creates share transactions, each caller learns its
own row's fate only after the commit, and one bad row fails only its own request."""

from __future__ import annotations

import asyncio

import orjson
import psycopg
import pytest
from fixtures.responses import make_response

from intake.group_commit import GroupCommitter
from intake.responses import _content_hash, _new_record
from intake.validation import validate_questionnaire_response


def record(identifier: str, age: int = 50):
    resource = make_response(
        {"tingling": True, "age": age}, patient="Patient/p1", identifier=("urn:x", identifier)
    )
    validated = validate_questionnaire_response(orjson.dumps(resource))
    return _new_record(validated, _content_hash(validated.resource))


def stored(url: str) -> tuple[set[str], set[str]]:
    with psycopg.connect(url) as connection:
        responses = {r[0] for r in connection.execute("SELECT id FROM questionnaire_response")}
        jobs = {
            orjson.loads(r[0])["response_id"]
            for r in connection.execute("SELECT payload FROM outbox")
        }
    return responses, jobs


def run(url: str, work, *, max_wait: float = 0.005, max_rows: int = 64):
    async def main():
        committer = GroupCommitter(url, max_wait=max_wait, max_rows=max_rows)
        committer.start()
        try:
            return await work(committer), committer.commits
        finally:
            await committer.close()

    return asyncio.run(main())


def test_concurrent_creates_share_transactions_and_each_is_committed(postgres_url: str):
    records = [record(f"id-{i}") for i in range(40)]

    async def work(committer: GroupCommitter):
        return await asyncio.gather(*(committer.insert(r) for r in records))

    results, commits = run(postgres_url, work, max_rows=16)
    assert results == [True] * 40
    assert 3 <= commits < 40, "the 40 creates did not share transactions"
    responses, jobs = stored(postgres_url)
    assert responses == jobs == {r.id for r in records}


def test_a_caller_hears_back_only_after_its_row_committed(postgres_url: str):
    mine = record("mine")

    async def work(committer: GroupCommitter):
        inserted = await committer.insert(mine)
        return inserted, stored(postgres_url)  # read from another connection, at once

    (inserted, (responses, jobs)), _ = run(postgres_url, work)
    assert inserted
    assert mine.id in responses and mine.id in jobs


def test_a_duplicate_identifier_in_the_same_batch_is_stored_once(postgres_url: str):
    first, again = record("same"), record("same")

    async def work(committer: GroupCommitter):
        return await asyncio.gather(committer.insert(first), committer.insert(again))

    results, commits = run(postgres_url, work)
    assert sorted(results) == [False, True]
    assert commits == 1
    responses, jobs = stored(postgres_url)
    assert len(responses) == 1 and responses == jobs


def test_one_failing_row_fails_only_its_own_request(postgres_url: str):
    good = [record(f"good-{i}") for i in range(5)]
    bad = record("x" * 300)  # longer than the identifier column: the database refuses it

    async def work(committer: GroupCommitter):
        return await asyncio.gather(
            *(committer.insert(r) for r in [*good[:2], bad, *good[2:]]), return_exceptions=True
        )

    results, _ = run(postgres_url, work)
    assert isinstance(results[2], psycopg.DataError)
    assert [r for i, r in enumerate(results) if i != 2] == [True] * 5
    responses, jobs = stored(postgres_url)
    assert responses == jobs == {r.id for r in good}


def test_an_unreachable_database_fails_the_request(postgres_url: str):
    unreachable = "postgresql://postgres@127.0.0.1:1/nowhere"

    async def work(committer: GroupCommitter):
        with pytest.raises(psycopg.OperationalError):
            await committer.insert(record("lost"))
        return True

    assert run(unreachable, work)[0]
