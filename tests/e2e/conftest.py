"""The whole pipeline on real processes: intake, screening and notify workers, PostgreSQL,
Redis and the Medplum FHIR server playing the EHR.

Notify signs in to the EHR with SMART Backend Services (private-key-jwt, its key found
through the notify API's JWKS URL) and gets short-lived tokens; the static token is only
the test harness's own way in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ehr_server import EhrServer
from support.pipeline import COORDINATOR, EHR_TOKEN, register_notify, smart_settings
from support.stack import Stack


@pytest.fixture
def ehr_with_token(ehr: EhrServer) -> EhrServer:
    ehr.configure(token=EHR_TOKEN)
    return ehr


@pytest.fixture
def pipeline(
    postgres_url: str, redis_url: str, ehr_with_token: EhrServer, tmp_path: Path
) -> Iterator[Stack]:
    stack = Stack.create(
        postgres_url,
        redis_url,
        tmp_path,
        ehr_base_url=ehr_with_token.base_url,
        **smart_settings(tmp_path),
        ehr_timeout_seconds="3",
        coordinator=COORDINATOR,
        retry_base_seconds="0.5",
        retry_max_seconds="2",
        redeliver_after_seconds="8",
        # A notify worker killed mid-call leaves a claim; it is claimed again after this.
        delivery_lease_seconds="15",
    )
    stack.start("intake")
    stack.start("relay")
    stack.start("screening")
    register_notify(ehr_with_token, stack)
    stack.start("notify")
    yield stack
    stack.stop_all()
