"""``$import`` throughput: a backlog of realistic 40-answer responses stored on PostgreSQL.

    python bench/import_backlog.py [--lines 100000]

Writes the NDJSON file (the 40-answer ``tests/fixtures/qr-sample.json``, one identifier
and patient a line) to a scratch directory, starts one intake process (and the relay, as
in production: it publishes the backlog's screening jobs meanwhile) on a fresh database,
streams the file to ``POST /fhir/QuestionnaireResponse/$import`` and reports lines
stored per second, the intake's peak resident memory (flat whatever the file's size) and
a re-run of the same file (everything a duplicate, nothing stored twice). No screening
worker runs: this measures storing, not scoring.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import harness
import httpx
from fixtures.backlog import backlog_lines
from support.stack import Stack

CHUNK = 256 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    arguments = parser.parse_args()
    with (
        harness.scratch_dir("import") as scratch,
        harness.fresh_database() as database_url,
        harness.clean_redis() as redis_url,
    ):
        backlog = scratch / "backlog.ndjson"
        with backlog.open("wb") as handle:
            for line in backlog_lines(arguments.lines):
                handle.write(line)
        stack = Stack.create(database_url, redis_url, scratch, intake_workers="1")
        try:
            stack.start("intake")
            stack.start("relay")
            intake_pid = stack.processes[stack.key_of("intake")].pid
            # PostgreSQL's backends are not visible here (another container on this
            # machine), so the CPU split covers NeuroScreen's processes only.
            meter = harness.CpuMeter(
                {"intake": intake_pid, "relay": stack.processes[stack.key_of("relay")].pid}, {}
            )
            first = upload(stack, backlog, intake_pid, meter)
            second = upload(stack, backlog, intake_pid, meter)
        finally:
            stack.stop_all()
        stored = harness.count(database_url, "SELECT count(*) FROM questionnaire_response")
        size_mb = backlog.stat().st_size / 1e6
    rows = [
        ["first run", first["lines_per_s"], first["seconds"], first["peak_rss_mb"]],
        [
            "re-run (all duplicates)",
            second["lines_per_s"],
            second["seconds"],
            second["peak_rss_mb"],
        ],
    ]
    harness.print_table(["run", "lines/s", "seconds", "intake peak RSS MB"], rows)
    harness.write_results(
        "import",
        {
            "lines": arguments.lines,
            "file_mb": size_mb,
            "stored_rows": stored,
            "first_run": first,
            "re_run": second,
            "load_average": harness.load_average(),
        },
    )


def upload(
    stack: Stack, backlog: Path, intake_pid: int, meter: harness.CpuMeter
) -> dict[str, float]:
    """One streamed upload: wall-clock rate, and the CPU each process spent per line (the
    measure that survives a shared machine: ``capacity`` is what the intake's one process
    allows on a quiet core)."""
    peak = 0.0
    meter.start()

    def chunks():
        nonlocal peak
        with backlog.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                peak = max(peak, tree_rss_mb(intake_pid))
                yield chunk

    started = time.perf_counter()
    with stack.client() as api:
        reply = api.post(
            "/QuestionnaireResponse/$import",
            content=chunks(),
            headers={"Content-Type": "application/fhir+ndjson"},
            timeout=httpx.Timeout(3600),
        )
        seconds = time.perf_counter() - started
        assert reply.status_code == 202, reply.text
        status = api.get(reply.headers["Content-Location"]).json()
    values = {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in status["parameter"]
    }
    cores = meter.cores(seconds)
    cpu_ms = {
        g: cores[g] * seconds / values["lines"] * 1000 for g in ("intake", "relay", "postgres")
    }
    # One request is one intake process: its CPU per line bounds the rate on a quiet core.
    capacity = 1000 / cpu_ms["intake"]
    print(f"{values} cpu ms/line {cpu_ms} capacity {capacity:.0f}/s", flush=True)
    return {
        "seconds": seconds,
        "lines_per_s": values["lines"] / seconds,
        "cpu_ms_per_line": cpu_ms,
        "capacity_one_quiet_core_per_s": capacity,
        "machine_cores_busy": cores["machine"],
        "stored": values["stored"],
        "duplicates": values["duplicates"],
        "refused": values["refused"],
        "peak_rss_mb": peak,
    }


def tree_rss_mb(pid: int) -> float:
    """Resident memory of the intake and its worker processes."""
    total = 0
    for candidate in Path("/proc").iterdir():
        if not candidate.name.isdigit():
            continue
        try:
            stat = (candidate / "stat").read_text().split()
            if int(candidate.name) != pid and int(stat[3]) != pid:
                continue
            total += int((candidate / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * 4096 / 1e6


if __name__ == "__main__":
    harness.run(main)
