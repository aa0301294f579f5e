"""Entry point: parse the command line and hand it to one command module."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from cli import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuroscreen",
        description="NeuroScreen command line: a client of the intake's FHIR API.",
    )
    parser.add_argument(
        "--base",
        default=os.environ.get("NEUROSCREEN_BASE", "http://127.0.0.1:8000/fhir"),
        help="FHIR base URL of the intake (env NEUROSCREEN_BASE; default %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("NEUROSCREEN_TOKEN", "dev-token"),
        help="bearer token (env NEUROSCREEN_TOKEN; default: the make-run dev token)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands.ALL:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    return int(arguments.run(arguments) or 0)
