"""Intake throughput and latency against a bare FastAPI endpoint. ``python bench/intake.py``

What it answers: how many realistic QuestionnaireResponses (tests/fixtures/qr-sample.json,
40 answers, ~12 kB) per second the intake accepts at concurrency 32 on PostgreSQL +
Redis, with what p50/p99 latency, and what fraction of a bare FastAPI+uvicorn endpoint
that only parses the same JSON (bench/bare_app.py) that is.

How: one run starts, side by side, the bare app and the intake (its own fresh database)
for each worker count (NEUROSCREEN_INTAKE_WORKERS=1 and 2), warms each up, then runs
the same wrk command against each in turn, ``--rounds`` times, and reports medians.
Every request carries a unique identifier value (bench/wrk_post.lua), so none is an
idempotent replay. Only 201s count as accepted. Afterwards the stored rows are counted:
they must equal the 201s, plus at most the requests wrk abandoned in flight when its
clock ran out (the server may still have committed those).

The outbox relay (``neuroscreen-relay``) runs beside the intake, as deployed: it shares
the cores and publishes every job to Redis. With ``--whole-stack`` (issue 23's method)
the screening and notify workers run too (notify holds alerts: no EHR), as ``make run``
starts them, and each service's CPU is metered on its own; without it jobs pile up in
Redis, untouched, and "others" includes the relay. The load generator shares the
machine's cores with the server; the CPU split is shown.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import httpx
from harness import CpuMeter, median, print_table
from support.smart import assertion, ec_key, public_jwks, token_request, write_clients
from support.stack import TOKEN, Stack, free_port, wait_until

WRK_SCRIPT = harness.BENCH / "wrk_post.lua"
PATH = "/fhir/QuestionnaireResponse"


@dataclass
class Target:
    """One server under test and every wrk run made against it."""

    name: str
    kind: str  # "bare" or "intake"
    workers: int
    url: str
    root_pid: int
    database_url: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    accepted_total: int = 0
    abandoned_total: int = 0
    services: dict[str, int] = field(default_factory=dict)
    """The other NeuroScreen processes beside an intake (relay, workers): CPU metered apart."""
    token: str = TOKEN
    """The bearer token wrk sends: the static one, or a SMART access token (``--smart``)."""
    new_token: Callable[[], str] | None = None
    """``--smart``: a fresh access token before each run (they live 5 minutes)."""


def body_template(directory: Path) -> Path:
    """The sample as sent by an EHR, its identifier value replaced by wrk's @@ID@@ slot."""
    resource_ = json.loads(harness.SAMPLE.read_text())
    resource_["identifier"]["value"] = "@@ID@@"
    path = directory / "qr-template.json"
    path.write_text(json.dumps(resource_, indent=2))
    return path


def start_bare(workers: int, log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn with the settings the intake uses (no access log, httptools, uvloop)."""
    port = free_port()
    log = (log_dir / f"bare-{workers}.log").open("ab")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "uvicorn"),
            "--app-dir",
            str(harness.BENCH),
            "bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--no-server-header",
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200, 30, "bare")
    except BaseException:
        stop_process(process)
        raise
    return process, url


def check_one_post(url: str, template: Path, token: str = TOKEN) -> None:
    """Fail fast (before minutes of load) if the server does not answer 201 to the body."""
    body = template.read_text().replace("@@ID@@", f"check-{uuid.uuid4().hex}")
    reply = httpx.post(
        url + PATH,
        content=body,
        headers={"Content-Type": "application/fhir+json", "Authorization": f"Bearer {token}"},
        timeout=10,
    )
    if reply.status_code != 201:
        raise SystemExit(f"{url}: expected 201, got {reply.status_code}: {reply.text[:500]}")


def run_wrk(target: Target, template: Path, args: argparse.Namespace, seconds: float) -> dict:
    """One wrk run; returns wrk's numbers plus the CPU each party used meanwhile."""
    harness.wait_for_quiet(args.quiet_wait)
    if target.new_token is not None:
        target.token = target.new_token()
    backends = harness.postgres_backends(target.database_url) if target.database_url else "\0"
    meter = CpuMeter(
        {"server": target.root_pid, **target.services},
        {"postgres": backends, "redis": "redis-server"},
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter.start()
    completed = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_SCRIPT),
            target.url + PATH,
            "--",
            str(template),
            uuid.uuid4().hex[:12],
            target.token,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed: {completed.stderr}{completed.stdout}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in completed.stdout.splitlines() if x.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    elapsed = result["duration_us"] / 1e6
    cores = meter.cores(elapsed)
    cores["wrk"] = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / elapsed
    ours = sum(cores[k] for k in ("server", *target.services, "postgres", "redis", "wrk"))
    cores["others"] = max(0.0, cores["machine"] - ours)
    result["cpu_cores"] = cores
    result["accepted_per_s"] = result["status_201"] / elapsed
    result["non_201"] = result["requests"] - result["status_201"]
    result["socket_errors"] = sum(result[k] for k in result if k.startswith("errors_"))
    target.accepted_total += result["status_201"]
    # wrk stops its clock with up to one request per connection in flight; the server may
    # still commit those, so they bound how many stored rows may exceed the 201s.
    target.abandoned_total += args.connections
    return result


def summarize(target: Target) -> dict[str, Any]:
    """Medians over the rounds (warm-up excluded)."""
    runs = target.runs
    return {
        "accepted_per_s": median([r["accepted_per_s"] for r in runs]),
        "p50_ms": median([r["p50_us"] / 1000 for r in runs]),
        "p99_ms": median([r["p99_us"] / 1000 for r in runs]),
        "max_ms": max(r["max_us"] / 1000 for r in runs),
        "server_cpu_ms_per_request": median(
            [
                r["cpu_cores"]["server"]
                / max(r["requests"] / (r["duration_us"] / 1e6), 1e-9)
                * 1000
                for r in runs
            ]
        ),
        # Per accepted response, as issue 23's table: each service's CPU over the 201s.
        "cpu_ms_per_accepted": {
            k: median([r["cpu_cores"][k] / max(r["accepted_per_s"], 1e-9) * 1000 for r in runs])
            for k in ("server", *target.services, "postgres")
        },
        "non_201": sum(r["non_201"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
        "cpu_cores": {k: median([r["cpu_cores"][k] for r in runs]) for k in runs[0]["cpu_cores"]},
        "rounds": [
            {k: r[k] for k in ("accepted_per_s", "p50_us", "p99_us", "status_201", "non_201")}
            for r in runs
        ],
    }


def verify_rows(target: Target) -> dict[str, Any]:
    """Stored rows must be the 201s (+ at most the requests abandoned at wrk's stop)."""
    assert target.database_url is not None
    stored = harness.count(target.database_url, "SELECT count(*) FROM questionnaire_response")
    stored -= 1  # the single check POST made before the runs
    extra = stored - target.accepted_total
    ok = 0 <= extra <= target.abandoned_total
    return {
        "accepted_201": target.accepted_total,
        "rows_stored": stored,
        "rows_beyond_201": extra,
        "in_flight_bound": target.abandoned_total,
        "ok": ok,
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per server")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server (median)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--workers", default="1,2", help="NEUROSCREEN_INTAKE_WORKERS values (2 = this machine)"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=120, help="max seconds to wait for an idle machine"
    )
    parser.add_argument(
        "--database-pool-size",
        type=int,
        default=None,
        help="NEUROSCREEN_DATABASE_POOL_SIZE for the intake (default: the service's default)",
    )
    parser.add_argument(
        "--smart",
        action="store_true",
        help="the intake authenticates a SMART client; wrk sends its access token",
    )
    parser.add_argument(
        "--whole-stack",
        action="store_true",
        help="run the screening and notify workers too, each metered apart (issue 23)",
    )
    parser.add_argument("--results-name", default="intake", help="bench/results/<name>.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    load = harness.load_average()
    with ExitStack() as cleanup:
        scratch = cleanup.enter_context(harness.scratch_dir("intake"))
        redis_url = cleanup.enter_context(harness.clean_redis())
        template = body_template(scratch)
        targets: list[Target] = []
        for workers in (int(w) for w in args.workers.split(",")):
            targets.append(start_bare_target(workers, scratch, cleanup))
            targets.append(
                start_intake_target(
                    workers,
                    scratch,
                    redis_url,
                    cleanup,
                    args.database_pool_size,
                    args.smart,
                    args.whole_stack,
                )
            )
        results = measure(targets, template, args)
    report(results, args, load)


def start_bare_target(workers: int, scratch: Path, cleanup: ExitStack) -> Target:
    bare, url = start_bare(workers, scratch)
    cleanup.callback(stop_process, bare)
    return Target(f"bare, {workers} worker(s)", "bare", workers, url, bare.pid)


def start_intake_target(
    workers: int,
    scratch: Path,
    redis_url: str,
    cleanup: ExitStack,
    pool_size: int | None,
    smart: bool = False,
    whole_stack: bool = False,
) -> Target:
    """The real intake (``neuroscreen-intake``) on its own fresh database."""
    database_url = cleanup.enter_context(harness.fresh_database())
    log_dir = scratch / f"intake-{workers}"
    log_dir.mkdir()
    extra = {"intake_workers": str(workers)}
    if pool_size:
        extra["database_pool_size"] = str(pool_size)
    client_key = ec_key("bench-1")
    if smart:
        clients = [
            {
                "client_id": "bench-ehr",
                "jwks": public_jwks(client_key),
                "scope": "system/QuestionnaireResponse.c",
            }
        ]
        extra["smart_clients_file"] = str(write_clients(log_dir / "clients.json", clients))
    stack = Stack.create(database_url, redis_url, log_dir, **extra)
    cleanup.callback(stack.stop_all)
    key = stack.start("intake")
    others = ("relay", "screening", "notify") if whole_stack else ("relay",)
    services = {name: stack.processes[stack.start(name)].pid for name in others}
    url = stack.base_url[: -len("/fhir")]
    pid = stack.processes[key].pid
    target = Target(f"intake, {workers} worker(s)", "intake", workers, url, pid, database_url)
    if whole_stack:
        target.services = services
    if smart:
        # One access token per wrk run (it lives 5 minutes), as an EHR reuses its token.
        def new_token() -> str:
            token_url = stack.base_url + "/auth/token"
            reply = token_request(
                stack.base_url,
                assertion(client_key, "bench-ehr", token_url),
                "system/QuestionnaireResponse.c",
            )
            reply.raise_for_status()
            return reply.json()["access_token"]

        target.new_token = new_token
        target.token = new_token()
        target.name += ", SMART token"
    return target


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(targets: list[Target], template: Path, args: argparse.Namespace) -> dict[str, Any]:
    for target in targets:
        check_one_post(target.url, template, target.token)
        print(f"warming up {target.name} ...", flush=True)
        run_wrk(target, template, args, args.warmup)
    for round_number in range(1, args.rounds + 1):
        for target in targets:
            print(f"round {round_number}/{args.rounds}: {target.name} ...", flush=True)
            target.runs.append(run_wrk(target, template, args, args.duration))
    results: dict[str, Any] = {}
    for target in targets:
        summary = summarize(target)
        if target.kind == "intake":
            summary["verification"] = verify_rows(target)
        results[target.name] = summary
    return results


def report(results: dict[str, Any], args: argparse.Namespace, load: float) -> None:
    print(
        f"\nwrk -t{args.threads} -c{args.connections}, {args.duration:g} s x {args.rounds} "
        "rounds each (medians); body: tests/fixtures/qr-sample.json, unique identifier each"
    )
    rows = []
    ratios: dict[str, float] = {}
    for name, s in results.items():
        kind, workers = name.split(",")[0], name.split(", ")[1].split()[0]
        bare = results.get(f"bare, {workers} worker(s)")
        ratio = s["accepted_per_s"] / bare["accepted_per_s"] if bare and kind == "intake" else None
        if ratio is not None:
            ratios[f"intake/bare, {workers} worker(s)"] = ratio
        cpu = s["cpu_cores"]
        rows.append(
            [
                name,
                s["accepted_per_s"],
                s["p50_ms"],
                s["p99_ms"],
                s["non_201"] + s["socket_errors"],
                f"{ratio:.0%}" if ratio is not None else "",
                s["server_cpu_ms_per_request"],
                "/".join(f"{cpu[k]:.2f}" for k in ("server", "postgres", "redis", "wrk", "others")),
            ]
        )
    print_table(
        [
            "server",
            "accepted/s",
            "p50 ms",
            "p99 ms",
            "non-201",
            "intake/bare",
            "server CPU ms/req",
            "cores srv/pg/redis/wrk/others",
        ],
        rows,
    )
    for name, s in results.items():
        if note := harness.disturbance_note(s["cpu_cores"]["others"]):
            print(f"{name}: {note}")
    for name, s in results.items():
        if "cpu_ms_per_accepted" in s and len(s["cpu_ms_per_accepted"]) > 2:
            per = ", ".join(f"{k} {v:.2f}" for k, v in s["cpu_ms_per_accepted"].items())
            print(f"{name}: CPU ms per accepted response: {per}")
    for name, s in results.items():
        if "verification" in s:
            v = s["verification"]
            verdict = "OK" if v["ok"] else "MISMATCH"
            print(
                f"{name}: {v['accepted_201']:,} 201s, {v['rows_stored']:,} rows stored "
                f"({v['rows_beyond_201']} beyond the 201s; at most {v['in_flight_bound']} "
                f"were in flight at wrk's stops) -> {verdict}"
            )
    harness.write_results(
        args.results_name,
        {
            "settings": {
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "rounds": args.rounds,
                "connections": args.connections,
                "database_pool_size": args.database_pool_size or "service default (10)",
                "load_average_at_start": load,
                "wrk_threads": args.threads,
                "whole_stack": args.whole_stack,
                "body": "tests/fixtures/qr-sample.json (unique identifier per request)",
            },
            "targets": {"accepted_per_s": 1000, "p99_ms": 100, "intake_over_bare": 0.30},
            "results": results,
            "ratios": ratios,
        },
    )
    if not all(s["verification"]["ok"] for s in results.values() if "verification" in s):
        raise SystemExit("stored rows do not match the 201s")


if __name__ == "__main__":
    harness.run(main)
