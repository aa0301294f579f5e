"""Request dependencies: settings and the bearer-token check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.auth import bearer_token, token_is_valid
from shared.config import Settings
from shared.fhir.outcome import Unauthorized


# Both dependencies are ``async`` only so that FastAPI runs them on the event loop
# instead of handing each request to the thread pool twice more; neither blocks.
async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def require_token(request: Request, settings: SettingsDep) -> None:
    """401 with ``WWW-Authenticate`` unless a known bearer token is presented."""
    presented = bearer_token(request.headers.get("authorization"))
    if not token_is_valid(presented, settings.intake_tokens):
        raise Unauthorized(
            "A valid bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="neuroscreen"'},
        )


Authenticated = Depends(require_token)
