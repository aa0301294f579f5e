"""``/console``: sign in, the page, a stored report, and replaying a dead letter."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined

from notify.admin import check_admin_token, replay_dead_letter
from notify.console.session import (
    csrf_matches,
    csrf_token,
    end_session,
    session_token,
    start_session,
)
from notify.console.views import console_view, stored_report_html
from shared.db import session_scope

router = APIRouter(prefix="/console", include_in_schema=False)
_ENVIRONMENT = Environment(
    loader=PackageLoader("notify.console", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
FORM = "application/x-www-form-urlencoded"
PAGE_HEADERS = {
    # Server-rendered, no script; nothing fetched from elsewhere; never framed.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def _page(template: str, status: int = 200, **values: object) -> HTMLResponse:
    html = _ENVIRONMENT.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


async def _form(request: Request, name: str) -> str:
    """One field of a urlencoded form (the console's forms have one or none; no multipart)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM:
        return ""
    values = parse_qs((await request.body())[:8192].decode("utf-8", "replace"))
    return values.get(name, [""])[0]


async def _signed_in(request: Request) -> str | None:
    """The session's token if it still may use the admin API, else None."""
    token = session_token(request)
    if not token:
        return None
    try:
        await check_admin_token(token, request.app.state.settings)
    except HTTPException:
        return None
    return token


def _to_login(request: Request, message: str = "") -> Response:
    response = _page("login.html.j2", 401, message=message)
    end_session(response, request)
    return response


@router.get("/login")
def login_form() -> HTMLResponse:
    return _page("login.html.j2", message="")


@router.post("/login")
async def login(request: Request) -> Response:
    token = await _form(request, "token")
    try:
        await check_admin_token(token.strip(), request.app.state.settings)
    except HTTPException as refusal:
        return _page("login.html.j2", refusal.status_code, message=str(refusal.detail))
    response = RedirectResponse("/console", status_code=303)
    start_session(response, request, token.strip())
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    end_session(response, request)
    return response


@router.get("")
async def console(request: Request, replayed: str = "") -> Response:
    token = await _signed_in(request)
    if token is None:
        return RedirectResponse("/console/login", status_code=303)
    settings = request.app.state.settings
    with session_scope() as session:
        view = console_view(session, settings.knowledge_version)
    return _page("console.html.j2", view=view, csrf=csrf_token(token), replayed=replayed)


@router.get("/report/{response_id}")
async def report(request: Request, response_id: str) -> Response:
    if await _signed_in(request) is None:
        return RedirectResponse("/console/login", status_code=303)
    with session_scope() as session:
        html = stored_report_html(session, response_id)
    if html is None:
        return _page("message.html.j2", 404, message=f"No report for response {response_id}.")
    return HTMLResponse(html, headers=PAGE_HEADERS)


@router.post("/replay/{response_id}")
async def replay(request: Request, response_id: str) -> Response:
    csrf = await _form(request, "csrf")
    token = await _signed_in(request)
    if token is None:
        return _to_login(request, "Sign in again to replay.")
    if not csrf_matches(token, csrf):
        return _page("message.html.j2", 403, message="The form expired; reload the console.")
    try:
        replay_dead_letter(response_id)
    except HTTPException as refusal:
        return _page("message.html.j2", refusal.status_code, message=str(refusal.detail))
    return RedirectResponse(f"/console?replayed={response_id}", status_code=303)
