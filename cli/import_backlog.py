"""``neuroscreen import FILE.ndjson``: store a backlog of QuestionnaireResponses.

A client of ``POST /fhir/QuestionnaireResponse/$import``: streams the file (one response
a line, each with an identifier) with a progress bar, then prints what was stored, what
was already there and what was refused; the refused lines' OperationOutcomes are saved
beside the file as ``FILE.errors.ndjson``. Running it again stores nothing twice.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from cli.client import CommandFailed, connect, report, request

CHUNK = 256 * 1024


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="store a backlog of responses from an NDJSON file (re-runs store nothing twice)",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    parser.add_argument("file", type=Path, help="NDJSON, one QuestionnaireResponse a line")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    path: Path = arguments.file
    try:
        with connect(arguments) as client:
            client.timeout = httpx.Timeout(30, read=3600)  # a large file takes a while
            reply = _upload(client, path)
            result = _values(request(client, "GET", reply.headers["Content-Location"]).json())
            errors_path = _save_errors(client, result, path)
    except CommandFailed as error:
        return report(error)
    except OSError as error:
        return report(CommandFailed(f"cannot read {path}: {error.strerror}"))
    _print_summary(result, errors_path)
    return 0


def _upload(client: httpx.Client, path: Path) -> httpx.Response:
    size = path.stat().st_size
    with Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("upload", total=size)
        return request(
            client,
            "POST",
            "QuestionnaireResponse/$import",
            content=_chunks(path, progress, task),
            headers={"Content-Type": "application/fhir+ndjson"},
        )


def _save_errors(client: httpx.Client, result: dict[str, Any], path: Path) -> Path | None:
    """The refused lines' OperationOutcomes, saved beside the file."""
    if not result.get("errorFile"):
        return None
    errors_path = path.with_name(path.name + ".errors.ndjson")
    with client.stream("GET", result["errorFile"]) as errors, errors_path.open("wb") as out:
        for chunk in errors.iter_bytes():
            out.write(chunk)
    return errors_path


def _chunks(path: Path, progress: Progress, task: Any) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            progress.advance(task, len(chunk))
            yield chunk


def _print_summary(result: dict[str, Any], errors_path: Path | None) -> None:
    table = Table(title=f"Import {result['status']}")
    table.add_column("lines read", justify="right")
    table.add_column("stored", justify="right")
    table.add_column("already stored", justify="right")
    table.add_column("refused", justify="right")
    table.add_row(*(str(result[k]) for k in ("lines", "stored", "duplicates", "refused")))
    console = Console()
    console.print(table)
    if result.get("detail"):
        console.print(result["detail"])
    if errors_path is not None:
        console.print(f"refused lines, one OperationOutcome each: {errors_path}")


def _values(result: dict[str, Any]) -> dict[str, Any]:
    return {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in result.get("parameter", [])
    }
