"""``neuroscreen rescreen``: re-screen stored responses under a knowledge version.

A client of ``POST /fhir/QuestionnaireResponse/$rescreen`` (admin scope): starts the run,
follows its status URL with a progress bar, then prints the tier transitions as a table.
A dry run is the default; ``--apply`` makes the new assessments current and alerts the
responses whose tier rose. Ctrl-C cancels the run (``DELETE`` on its status URL).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli.client import FHIR_JSON, CommandFailed, connect, report, request


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rescreen",
        help="re-screen stored responses under a knowledge version (dry run by default)",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
    )
    parser.add_argument("--knowledge", required=True, metavar="VERSION", help="e.g. 2.1.0")
    parser.add_argument("--since", help="stored at or after (date or dateTime with zone)")
    parser.add_argument("--until", help="stored before (date or dateTime with zone)")
    parser.add_argument(
        "--apply", action="store_true", help="store the new results and alert risen tiers"
    )
    parser.add_argument("--ids", action="store_true", help="list the response ids per change")
    parser.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        with connect(arguments) as client:
            started = request(
                client,
                "POST",
                "QuestionnaireResponse/$rescreen",
                content=_parameters(arguments),
                headers={"Content-Type": FHIR_JSON},
            )
            status_url = started.headers["Content-Location"]
            try:
                result = _follow(client, status_url, console)
            except KeyboardInterrupt:
                request(client, "DELETE", status_url)
                console.print("cancelled; what was done stays done")
                result = request(client, "GET", status_url)
    except CommandFailed as error:
        return report(error)
    _print_report(result.json(), arguments.ids)
    return 0


def _follow(client: httpx.Client, status_url: str, console: Console) -> httpx.Response:
    columns = (
        TextColumn("[bold]re-screening"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("run", total=None, rate="0")
        while True:
            reply = request(client, "GET", status_url)
            if reply.status_code != 202:
                return reply
            values = _values(reply.json())
            progress.update(
                task, completed=values["done"], total=values["total"], rate=values["ratePerSecond"]
            )
            time.sleep(float(reply.headers.get("Retry-After", "1")) / 2)


def _print_report(result: dict[str, Any], with_ids: bool) -> None:
    values = _values(result)
    kind = "dry run" if values["dryRun"] else "applied"
    table = Table(
        title=f"Re-screening under knowledge {values['knowledgeVersion']} ({kind}, "
        f"{values['status']}: {values['done']} of {values['total']})"
    )
    for column in ("from", "to", "responses", *(["ids"] if with_ids else [])):
        table.add_column(column, justify="right" if column == "responses" else "left")
    for parameter in result["parameter"]:
        parts = {p["name"]: p for p in parameter.get("part", [])}
        if parameter["name"] == "transition":
            ids = [
                p["valueReference"]["reference"].split("/", 1)[1]
                for p in parameter["part"]
                if p["name"] == "response"
            ]
            row = [parts["from"]["valueCode"], parts["to"]["valueCode"]]
            row.append(str(parts["count"]["valueInteger"]))
            table.add_row(*row, *([" ".join(ids)] if with_ids else []))
        elif parameter["name"] == "unchanged":
            tier = parts["tier"]["valueCode"]
            count = str(parts["count"]["valueInteger"])
            table.add_row(tier, f"{tier} (unchanged)", count, *([""] if with_ids else []))
    console = Console()
    console.print(table)
    alerts = sum(1 for p in result["parameter"] if p["name"] == "alert")
    verb = "would alert" if values["dryRun"] else "alerted"
    console.print(f"{verb}: {alerts} response(s) whose tier rose to the alert threshold")
    for parameter in result["parameter"]:
        if parameter["name"] == "skipped":
            reason = parameter["part"][0]["valueCode"]
            console.print(f"skipped ({reason}): {len(parameter['part']) - 1}")


def _values(result: dict[str, Any]) -> dict[str, Any]:
    return {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in result.get("parameter", [])
        if "part" not in p and p["name"] != "alert"
    }


def _parameters(arguments: argparse.Namespace) -> bytes:
    parameter: list[dict[str, Any]] = [
        {"name": "knowledgeVersion", "valueString": arguments.knowledge},
        {"name": "dryRun", "valueBoolean": not arguments.apply},
    ]
    for name in ("since", "until"):
        if getattr(arguments, name):
            parameter.append({"name": name, "valueDateTime": getattr(arguments, name)})
    return orjson.dumps({"resourceType": "Parameters", "parameter": parameter})
