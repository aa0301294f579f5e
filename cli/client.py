"""The commands' one HTTP client for the intake's FHIR API, and how its refusals read.

A refusal is printed from the server's OperationOutcome (each issue's code,
FHIRPath expression and diagnostics), so the command line says exactly what the
API says and nothing is re-worded on the way.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"


class CommandFailed(Exception):
    """What to tell the user (on stderr) before exiting with status 1."""


def connect(arguments: argparse.Namespace) -> httpx.Client:
    return httpx.Client(
        base_url=arguments.base.rstrip("/") + "/",
        headers={"Authorization": f"Bearer {arguments.token}", "Accept": FHIR_JSON},
        timeout=30,
    )


def refusal(response: httpx.Response) -> CommandFailed:
    """The server's answer as a readable error: status line, then one line per issue."""
    lines = [f"{response.status_code} {response.reason_phrase} from {response.request.url}"]
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        for issue in body.get("issue", []):
            where = ", ".join(issue.get("expression", []))
            text = issue.get("diagnostics") or issue.get("details", {}).get("text", "")
            lines.append(f"  {issue.get('code', '?')}{f' at {where}' if where else ''}: {text}")
    elif response.text:
        lines.append("  " + response.text[:500])
    return CommandFailed("\n".join(lines))


def request(client: httpx.Client, method: str, path: str, **options: Any) -> httpx.Response:
    """One call; a 2xx answer, else :class:`CommandFailed` with the server's reasons."""
    try:
        response = client.request(method, path, **options)
    except httpx.HTTPError as error:
        raise CommandFailed(
            f"cannot reach the intake at {client.base_url} ({type(error).__name__}); "
            "is it running (make run), and is --base right?"
        ) from None
    if response.is_error:
        raise refusal(response)
    return response


def report(error: CommandFailed) -> int:
    print(f"neuroscreen: {error}", file=sys.stderr)
    return 1
