"""The console's session cookie and its CSRF token.

The cookie is the admin token itself, re-checked on every request exactly as
the admin API checks a bearer token, so revoking or expiring a token ends the
session. The CSRF token is an HMAC of the session under a fixed label: a page on
another site can neither read the cookie (HttpOnly) nor send it (SameSite=Strict),
and could not compute the form's token without it.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

COOKIE = "neuroscreen_console"
COOKIE_PATH = "/console"


def session_token(request: Request) -> str:
    return request.cookies.get(COOKIE, "")


def csrf_token(session: str) -> str:
    return hmac.new(session.encode(), b"neuroscreen-console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session: str, presented: str) -> bool:
    return bool(session) and hmac.compare_digest(csrf_token(session), presented)


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def start_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def end_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=is_https(request)
    )
