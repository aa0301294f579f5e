"""Request dependencies: settings, the caller (bearer token, rate limit) and its scopes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from intake.rest import base_url
from intake.smart.principals import Principal
from intake.store import ResponseStore
from shared.auth import bearer_token
from shared.config import Settings


# These dependencies are ``async`` only so that FastAPI runs them on the event loop
# instead of handing each request to the thread pool again; none of them blocks.
async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_store(request: Request) -> ResponseStore:
    return request.app.state.store


StoreDep = Annotated[ResponseStore, Depends(get_store)]


async def authenticate(request: Request) -> Principal:
    """401 (``invalid_token``) without a valid token, 429 over the client's rate limit."""
    state = request.app.state
    token = bearer_token(request.headers.get("authorization"))
    principal = state.authenticator.principal(token, base_url(request))
    # For the audit of a refusal further on (intake.refusals): who was refused.
    request.state.client_id = principal.client_id
    state.rate_limiter.check(principal.client_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]
Authenticated = Depends(authenticate)


def allowed(resource_type: str, interaction: str) -> Any:
    """A route dependency: 403 unless the token's scopes allow ``interaction`` on the type."""

    async def check(principal: PrincipalDep) -> None:
        principal.require(resource_type, interaction)

    return Depends(check)
