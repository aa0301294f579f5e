"""``neuroscreen post FILE.json``: send a QuestionnaireResponse as an EHR would.

Prints the stored resource's id alone on stdout (so ``ID=$(neuroscreen post f.json)``
works) and what happened on stderr; a refusal prints the OperationOutcome.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.client import FHIR_JSON, CommandFailed, connect, report, request


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "post",
        help="post a QuestionnaireResponse (FHIR JSON) and print its id",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    parser.add_argument("file", type=Path, help="the QuestionnaireResponse, FHIR JSON ('-': stdin)")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    try:
        body = _read(arguments.file)
        with connect(arguments) as client:
            answer = request(
                client,
                "POST",
                "QuestionnaireResponse",
                content=body,
                headers={"Content-Type": FHIR_JSON},
            )
    except CommandFailed as error:
        return report(error)
    stored = answer.json()["id"]
    if answer.status_code == 201:
        print(f"stored as QuestionnaireResponse/{stored}; screening runs next", file=sys.stderr)
    else:  # 200: the EHR's identifier matched a response already stored (idempotent)
        print(f"already stored as QuestionnaireResponse/{stored}", file=sys.stderr)
    print(stored)
    return 0


def _read(file: Path) -> bytes:
    if str(file) == "-":
        return sys.stdin.buffer.read()
    try:
        return file.read_bytes()
    except OSError as error:
        raise CommandFailed(f"cannot read {file}: {error.strerror}") from None
