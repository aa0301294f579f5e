"""Wiring SMART into the app: keys, clients, replay store, rate limits, SIGHUP, retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from intake import audit
from intake.smart.clients import ClientRegistry
from intake.smart.keys import SigningKeys
from intake.smart.principals import Authenticator
from intake.smart.rate_limit import RateLimiter
from intake.smart.refusals import AGGREGATE_SECONDS, UnregisteredRefusals
from shared.config import Settings
from shared.db import session_scope
from shared.trust.jwks import FetchPolicy
from shared.trust.replay import replay_store_for
from shared.trust.scopes import parse_scopes

log = logging.getLogger("neuroscreen.intake.smart")
RETENTION_SWEEP_SECONDS = 3600.0
ADDRESS_SHARE = 4


def install_smart(app: FastAPI, settings: Settings) -> None:
    """Everything the token endpoint and the bearer check need, on ``app.state``."""
    state = app.state
    state.signing_keys = SigningKeys.for_settings(settings)
    state.authenticator = Authenticator(
        settings.intake_tokens, parse_scopes(settings.intake_token_scopes), state.signing_keys
    )
    state.jwks_http = httpx.AsyncClient(follow_redirects=False)
    policy = FetchPolicy(
        refetch_interval_seconds=settings.jwks_refetch_seconds, https_only=settings.production
    )
    state.clients = ClientRegistry(settings.smart_clients_file, state.jwks_http, policy)
    state.replay_store = replay_store_for(settings)
    state.rate_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    per_minute = settings.token_requests_per_minute
    state.token_rate_limiter = RateLimiter(per_minute / 60.0, max(1.0, per_minute))
    # Before verification, per peer address: room for a few clients behind one address
    # (a NAT, an integration engine), so ADDRESS_SHARE times a client's budget.
    per_address = per_minute * ADDRESS_SHARE
    state.token_address_limiter = RateLimiter(per_address / 60.0, max(1.0, per_address))
    state.unregistered_refusals = UnregisteredRefusals()


@asynccontextmanager
async def smart_running(app: FastAPI) -> AsyncIterator[None]:
    """SIGHUP re-reads the clients, CDS issuers and key files; old audit events are swept hourly."""
    state = app.state
    loop = asyncio.get_running_loop()

    def reload() -> None:
        state.clients.request_reload()
        state.cds_issuers.request_reload()
        with contextlib.suppress(OSError, ValueError):
            state.signing_keys.reload()

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, reload)
    sweeper = asyncio.create_task(_sweep_audit_events(state.settings.audit_retention_days))
    aggregator = asyncio.create_task(_audit_unregistered_refusals(state.unregistered_refusals))
    try:
        yield
    finally:
        sweeper.cancel()
        aggregator.cancel()
        # The refusals of the last interval are audited too, not lost with the process.
        with contextlib.suppress(Exception):
            await run_in_threadpool(_write_refusals, state.unregistered_refusals)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
        await state.jwks_http.aclose()


async def _sweep_audit_events(retention_days: int) -> None:
    while True:
        try:
            deleted = await run_in_threadpool(_purge, retention_days)
            if deleted:
                log.info("audit events past retention deleted", extra={"count": deleted})
        except Exception as error:  # a failed sweep must not stop the next one
            log.warning("audit retention sweep failed", extra={"error": type(error).__name__})
        await asyncio.sleep(RETENTION_SWEEP_SECONDS)


async def _audit_unregistered_refusals(refusals: UnregisteredRefusals) -> None:
    while True:
        await asyncio.sleep(AGGREGATE_SECONDS)
        try:
            await run_in_threadpool(_write_refusals, refusals)
        except Exception as error:  # the count is lost, the metric still has it
            log.warning("refusal audit failed", extra={"error": type(error).__name__})


def _write_refusals(refusals: UnregisteredRefusals) -> None:
    taken = refusals.take()
    if taken is not None:
        count, first, last = taken
        with session_scope() as session:
            audit.record_unregistered_refusals(session, count=count, first=first, last=last)


def _purge(retention_days: int) -> int:
    with session_scope() as session:
        return audit.purge_before(session, audit.retention_cutoff(retention_days))
