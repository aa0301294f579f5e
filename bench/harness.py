"""What every benchmark shares: throw-away databases, a clean Redis, process cleanup,
percentiles, a printed table and the JSON results file.

Each benchmark runs against real processes started exactly as the integration tests
start them (``tests/support/stack.py``), on a PostgreSQL database created for the run
and dropped after it, and on Redis database 14 (flushed before and after). Everything
listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
SAMPLE = ROOT / "tests/fixtures/qr-sample.json"
# tests/ holds the process launcher (support.stack), the EHR and the response builder.
for _path in (ROOT / "tests", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
# bench/screening.py and bench/intake.py are named like the services' packages (installed
# editable, found after sys.path): with bench/ on sys.path, ``import screening`` would find
# the script. This module is imported first, and nothing else is imported from bench/.
while str(BENCH) in sys.path:
    sys.path.remove(str(BENCH))

import psycopg  # noqa: E402
import redis  # noqa: E402

POSTGRES_URL = os.environ.get(
    "NEUROSCREEN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("NEUROSCREEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt, so every ``finally`` cleans
    up (SIGINT explicitly too: a shell starts background jobs with it ignored)."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def run(main: Callable[[], None]) -> None:
    """Run a benchmark's ``main``; Ctrl-C or SIGTERM ends it after its cleanup ran."""
    exit_cleanly_on_sigterm()
    try:
        main()
    except KeyboardInterrupt:
        print("\ninterrupted: processes stopped, database dropped, Redis flushed", flush=True)
        raise SystemExit(130) from None


@contextmanager
def fresh_database(server_url: str = POSTGRES_URL, *, migrate: bool = True) -> Iterator[str]:
    """A new PostgreSQL database, migrated to head, dropped afterwards (even on Ctrl-C)."""
    name = f"neuroscreen_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        if migrate:
            from shared.migrate import upgrade

            upgrade(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def clean_redis(url: str = REDIS_URL) -> Iterator[str]:
    """Redis database 14, flushed before and after: a benchmark never sees old jobs."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """Logs and data of the started processes; kept only if NEUROSCREEN_BENCH_KEEP_LOGS=1."""
    path = Path(tempfile.mkdtemp(prefix=f"neuroscreen-bench-{prefix}-"))
    try:
        yield path
    finally:
        if os.environ.get("NEUROSCREEN_BENCH_KEEP_LOGS") != "1":
            subprocess.run(["rm", "-rf", str(path)], check=False)
        else:
            print(f"logs kept in {path}")


def count(database_url: str, sql: str, params: Sequence[Any] = ()) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain fixed-width table: readable in a terminal and pasteable into Markdown."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _cell(value: Any) -> str:
    if value is None:
        return "never"
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> dict[str, Any]:
    """Enough context to compare a results file with another machine's."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "git_commit": commit or None,
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def write_results(name: str, results: dict[str, Any]) -> Path:
    """bench/results/<name>.json: small, stable key order, one run's numbers."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **results,
    }
    path.write_text(json.dumps(_rounded(document), indent=2) + "\n")
    print(f"\nresults written to {path.relative_to(ROOT)}")
    return path


def _rounded(value: Any) -> Any:
    """Three significant decimals are plenty and keep diffs of the results file small."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


class Stopwatch:
    """Wall-clock seconds since creation (monotonic)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, CPU seconds used) for every process we can see."""
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        # utime + stime, plus cutime + cstime: the CPU of children that already exited
        # (a PostgreSQL backend of a closed connection, a recycled Celery pool process).
        cpu = sum(int(f) for f in fields[11:15]) / CLOCK_TICKS
        stats[int(entry.name)] = (int(fields[1]), command, cpu)
    return stats


class CpuMeter:
    """CPU seconds used by groups of processes between two snapshots.

    A group is either a process tree (a root pid: a server and its workers) or every
    process whose command line contains a string (``postgres: postgres <database>``
    selects the PostgreSQL backends serving one database, ``redis-server`` the broker).
    On a 2-core machine the split shows who the cores went to during a measurement.
    """

    def __init__(self, trees: dict[str, int], commands: dict[str, str | tuple[str, ...]]) -> None:
        self.trees = trees
        self.commands = commands
        self._start: dict[str, float] = {}

    def _measure(self) -> dict[str, float]:
        stats = _proc_stats()
        used: dict[str, float] = {}
        for group, root in self.trees.items():
            members = {root}
            grew = True
            while grew:
                new = {pid for pid, (ppid, _, _) in stats.items() if ppid in members} - members
                members |= new
                grew = bool(new)
            used[group] = sum(stats[p][2] for p in members if p in stats)
        for group, needles in self.commands.items():
            wanted = (needles,) if isinstance(needles, str) else needles
            used[group] = sum(
                cpu for _, command, cpu in stats.values() if any(n in command for n in wanted)
            )
        used["machine"] = _machine_busy_seconds()
        return used

    def start(self) -> None:
        self._start = self._measure()

    def cores(self, seconds: float) -> dict[str, float]:
        """Average cores used by each group since :meth:`start`."""
        now = self._measure()
        return {g: max(0.0, now[g] - self._start.get(g, 0.0)) / seconds for g in now}


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle/iowait) since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def postgres_backends(database_url: str) -> tuple[str, str]:
    """The CpuMeter selector for PostgreSQL backends connected to this database, plus the
    postmaster, whose children's CPU includes backends of connections already closed."""
    return (f" postgres {database_url.rsplit('/', 1)[1]} ", "bin/postgres -D")


def load_average() -> float:
    """1-minute load average: a busy machine (other test runs) makes every number worse."""
    return os.getloadavg()[0]


def wait_for_quiet(max_wait: float = 300.0, *, below: float = 0.3, calm_for: int = 3) -> float:
    """Wait until the machine is idle (less than ``below`` cores busy, ``calm_for`` seconds
    running), at most ``max_wait`` seconds; returns the busy cores seen last.

    Other work on a 2-core machine (a test suite, a build) takes cores from the processes
    under test and makes every number worse; this keeps the measurement off such moments
    where possible. The cores others used during a measurement are reported beside it.
    """
    deadline = time.monotonic() + max_wait
    calm = 0
    busy = 0.0
    announced = False
    while True:
        before = _machine_busy_seconds()
        time.sleep(1.0)
        busy = _machine_busy_seconds() - before
        calm = calm + 1 if busy < below else 0
        if calm >= calm_for or time.monotonic() > deadline:
            return busy
        if not announced:
            print(f"  waiting for the machine to be idle ({busy:.2f} cores busy) ...", flush=True)
            announced = True


def disturbance_note(others_cores: float, limit: float = 0.25) -> str:
    """A warning to print (and keep) when other work took cores during a measurement."""
    if others_cores <= limit:
        return ""
    return (
        f"DISTURBED: processes outside the benchmark used {others_cores:.2f} cores meanwhile; "
        "numbers are pessimistic, re-run on an idle machine"
    )
