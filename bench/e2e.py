"""End to end: POST a QuestionnaireResponse -> Task in the EHR. ``python bench/e2e.py``

The whole pipeline on real processes, as the e2e tests run it: the Medplum FHIR server
as the EHR (tests/ehr_server.EhrServer), intake, one screening worker and one notify
worker (NEUROSCREEN_EHR_MAX_TRANSACTION_ENTRIES=8: Medplum caps conditional
transactions at 8 entries), PostgreSQL (a fresh database) and Redis (database 14).

1. Latency at a steady rate (default 50/s for 60 s). The load is open-loop: each POST
   leaves on its schedule whether or not earlier ones were answered, as EHRs post
   independently. Every response alerts (tests/e2e/conftest.EGPA_FOOT_DROP). Per
   response we take, from the database, ``delivery.delivered_at`` (stamped when the
   EHR acknowledged the last transaction) minus the moment the client sent the POST
   (same clock, same machine), and also minus ``questionnaire_response.last_updated``
   (the commit in the intake). The EHR is spot-checked: one Task per response.
2. The largest sustained rate: steps of ``--step-duration`` seconds at each of
   ``--rates``. Every second the backlog is sampled (unfinished responses, due outbox
   rows, Redis queue lengths). A step is sustained when unfinished responses do not
   grow (least-squares slope over the step's last three quarters at most 5 % of the
   rate), fewer than two seconds of arrivals are unfinished at its end, and every POST
   got a 201. Between steps the pipeline drains; stepping stops at the first failure.

``--duration 10 --rates 50,100 --step-duration 8`` makes a quick run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import harness
import httpx
import orjson
import psycopg
import redis
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from fixtures.responses import make_response
from harness import CpuMeter, percentile, print_table
from support.stack import TOKEN, Stack, free_port, wait_until

from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER

EHR_TOKEN = "bench-ehr-secret"
COORDINATOR = "Practitioner/coordinator-1"
UNFINISHED = ("received", "scored", "sending", "retrying")


@dataclass
class Sent:
    """One POST: when it was scheduled and sent (wall clock, to compare with the DB)."""

    scheduled: float
    """Seconds after the start when the POST should leave."""
    lag: float = 0.0
    """Seconds it left late (the client could not keep the schedule)."""
    sent_at: float = 0.0
    status: int = 0
    response_id: str | None = None
    client_latency: float = 0.0


class StubEhr:
    """bench/stub_ehr.py under uvicorn, with the parts of EhrServer's API the benchmark uses."""

    def __init__(self, token: str, log_dir: Path) -> None:
        self.token = token
        self.port = free_port()
        log = (log_dir / "stub-ehr.log").open("ab")
        self._proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "uvicorn"),
                "--app-dir",
                str(harness.BENCH),
                "stub_ehr:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env={**os.environ, "STUB_EHR_TOKEN": token},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._admin = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        wait_until(lambda: self._admin.get("/healthz").status_code == 200, 30, "stub EHR")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def pid(self) -> int:
        return self._proc.pid

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def search(self, resource_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        reply = self._admin.get(f"/admin/fhir/{resource_type}", params=params)
        return [entry["resource"] for entry in reply.json().get("entry", [])]

    def stats(self) -> dict[str, Any]:
        return self._admin.get("/admin/stats").json()

    def reset(self) -> None:
        """Nothing to do: the stub's cost does not depend on what it stores."""

    def stop(self) -> None:
        self._admin.close()
        self._proc.terminate()
        self._proc.wait(20)


def start_ehr(kind: str, log_dir: Path, cleanup: ExitStack) -> tuple[EhrServer | StubEhr, int]:
    """The EHR notify writes to, and its pid (for the CPU split)."""
    if kind == "stub":
        stub = StubEhr(EHR_TOKEN, log_dir)
        cleanup.callback(stub.stop)
        return stub, stub.pid
    medplum = cleanup.enter_context(EhrServer(token=EHR_TOKEN))
    return medplum, medplum._proc.pid  # type: ignore[union-attr]


@dataclass
class Pipeline:
    """The running system under test."""

    stack: Stack
    ehr: EhrServer | StubEhr
    database_url: str
    redis_url: str
    patient: str
    pids: dict[str, int] = field(default_factory=dict)


# -- the system --------------------------------------------------------------------------


@contextmanager
def pipeline(scratch: Path, args: argparse.Namespace) -> Iterator[Pipeline]:
    """EHR, intake, screening and notify on a fresh database; all stopped afterwards."""
    with ExitStack() as cleanup:
        redis_url = cleanup.enter_context(harness.clean_redis())
        database_url = cleanup.enter_context(harness.fresh_database())
        ehr, ehr_pid = start_ehr(args.ehr, scratch, cleanup)
        stack = Stack.create(
            database_url,
            redis_url,
            scratch,
            ehr_base_url=ehr.base_url,
            ehr_token=EHR_TOKEN,
            ehr_max_transaction_entries="8",
            coordinator=COORDINATOR,
            relay_interval_seconds=str(args.relay_interval),
        )
        cleanup.callback(stack.stop_all)
        pids = {"intake": stack.processes[stack.start("intake")].pid}
        pids["relay"] = stack.processes[stack.start("relay")].pid
        for name, count in (("screening", args.screening_workers), ("notify", args.notify_workers)):
            for number in range(count):
                pids[f"{name}{number or ''}"] = stack.processes[stack.start(name)].pid
        pids["ehr"] = ehr_pid
        yield Pipeline(stack, ehr, database_url, redis_url, patient="", pids=pids)


def bodies(patient: str, count: int, batch: str) -> list[bytes]:
    """Alerting responses with unique identifiers, built before the clock starts."""
    return [
        orjson.dumps(
            make_response(EGPA_FOOT_DROP, patient=patient, identifier=("urn:bench", f"{batch}-{n}"))
        )
        for n in range(count)
    ]


# -- open-loop load ----------------------------------------------------------------------


async def send_open_loop(url: str, payloads: list[bytes], rate: float) -> list[Sent]:
    """POST ``payloads`` at ``rate`` per second on schedule, never waiting for answers."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    sent = [Sent(scheduled=i / rate) for i in range(len(payloads))]
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as api:
        start = time.monotonic()
        tasks = []
        for record, payload in zip(sent, payloads, strict=True):
            delay = start + record.scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post_one(api, payload, record, start)))
        await asyncio.gather(*tasks)
    return sent


async def post_one(api: httpx.AsyncClient, payload: bytes, record: Sent, start: float) -> None:
    record.sent_at = time.time()
    lag_start = time.monotonic()
    record.lag = max(0.0, lag_start - start - record.scheduled)
    try:
        reply = await api.post("/QuestionnaireResponse", content=payload)
    except httpx.HTTPError:
        record.status = -1
        return
    record.client_latency = time.monotonic() - lag_start
    record.status = reply.status_code
    location = reply.headers.get("location", "")
    if location:
        record.response_id = location.split("/QuestionnaireResponse/")[1].split("/")[0]


# -- measuring ---------------------------------------------------------------------------


class BacklogSampler:
    """Samples the backlog every second in a thread while a step runs."""

    def __init__(self, system: Pipeline) -> None:
        self.system = system
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0

    def __enter__(self) -> BacklogSampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        broker = redis.Redis.from_url(self.system.redis_url)
        with psycopg.connect(self.system.database_url, autocommit=True) as connection:
            while not self._stop.wait(1.0):
                self.samples.append(backlog(connection, broker, time.monotonic() - self._started))
        broker.close()


def backlog(connection: psycopg.Connection, broker: redis.Redis, at: float) -> dict[str, float]:
    states = dict(
        connection.execute(
            "SELECT state, count(*) FROM questionnaire_response "
            "WHERE state = ANY(%s) GROUP BY state",
            (list(UNFINISHED),),
        ).fetchall()
    )
    outbox = connection.execute("SELECT count(*) FROM outbox WHERE available_at <= now()")
    return {
        "t": at,
        "unfinished": float(sum(states.values())),
        "received": float(states.get("received", 0)),
        "scored": float(states.get("scored", 0)),
        "outbox_due": float(outbox.fetchone()[0]),  # type: ignore[index]
        "redis_screening": float(broker.llen("screening")),
        "redis_notify": float(broker.llen("notify")),
    }


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (units per second); 0 for fewer than 3 points."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


def wait_settled(system: Pipeline, ids: list[str], timeout: float) -> bool:
    """Wait until none of ``ids`` is unfinished; False if the timeout passed first."""

    def settled() -> bool:
        return (
            harness.count(
                system.database_url,
                "SELECT count(*) FROM questionnaire_response "
                "WHERE id = ANY(%s) AND state = ANY(%s)",
                (ids, list(UNFINISHED)),
            )
            == 0
        )

    try:
        wait_until(settled, timeout, "responses to settle", every=0.5)
    except AssertionError:
        return False
    return True


def latencies(system: Pipeline, sent: list[Sent]) -> dict[str, Any]:
    """POST -> Task-in-EHR and commit -> Task-in-EHR per response, from the database.

    A response not delivered yet counts as infinitely late, so a p99 never hides it.
    """
    by_id = {s.response_id: s for s in sent if s.response_id}
    with psycopg.connect(system.database_url) as connection:
        rows = connection.execute(
            "SELECT q.id, q.state, q.last_updated, d.delivered_at FROM questionnaire_response q "
            "LEFT JOIN delivery d ON d.response_id = q.id WHERE q.id = ANY(%s)",
            (list(by_id),),
        ).fetchall()
    from_post: list[float] = []
    from_commit: list[float] = []
    states: dict[str, int] = {}
    for response_id, state, stored_at, delivered_at in rows:
        states[state] = states.get(state, 0) + 1
        if isinstance(delivered_at, datetime):
            from_post.append(delivered_at.timestamp() - by_id[response_id].sent_at)
            from_commit.append((delivered_at - stored_at).total_seconds())
        else:
            from_post.append(float("inf"))
            from_commit.append(float("inf"))
    accepted = [s for s in sent if s.status == 201]
    return {
        "posted": len(sent),
        "accepted_201": len(accepted),
        "non_201": len(sent) - len(accepted),
        "delivered": sum(1 for x in from_post if x != float("inf")),
        "states": states,
        "post_to_task_ms": summary_ms(from_post),
        "commit_to_task_ms": summary_ms(from_commit),
        "post_201_ms": summary_ms([s.client_latency for s in accepted]),
        "send_lag_ms": summary_ms([s.lag for s in sent]),
    }


def summary_ms(seconds: list[float]) -> dict[str, float | None]:
    """p50/p99/max in ms; None stands for "not delivered" (infinite), also in the JSON."""

    def ms(value: float) -> float | None:
        return None if value == float("inf") else value * 1000

    return {
        "p50": ms(percentile(seconds, 50)),
        "p99": ms(percentile(seconds, 99)),
        "max": ms(max(seconds)) if seconds else None,
    }


def spot_check_ehr(
    system: Pipeline, ids: list[str], settled: bool, sample: int = 25
) -> dict[str, Any]:
    """Exactly one Task per notified response (a sample, searched by identifier), and as
    many Tasks in the EHR as responses notified (the EHR is emptied before each phase).

    While alerts are still flowing (not settled) the counts are read Tasks first, so at
    most the one alert notify is writing may have its Task before its ``notified`` state.
    """
    tasks = system.ehr.stats().get("resources", {}).get("Task", 0)
    with psycopg.connect(system.database_url) as connection:
        notified = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM questionnaire_response WHERE id = ANY(%s) AND state = 'notified'",
                (ids,),
            )
        ]
    checked = notified[:: max(1, len(notified) // sample)][:sample]
    wrong = [
        response_id
        for response_id in checked
        if len(
            system.ehr.search(
                "Task", {"identifier": f"{SCREENING_OUTPUT_IDENTIFIER}|task/{response_id}"}
            )
        )
        != 1
    ]
    counts_agree = tasks == len(notified) if settled else tasks <= len(notified) + 1
    return {
        "sampled": len(checked),
        "sample_without_exactly_one_task": len(wrong),
        "notified": len(notified),
        "tasks_in_ehr": tasks,
        "ok": not wrong and counts_agree,
    }


def ehr_writes(system: Pipeline, ids: list[str]) -> dict[str, Any]:
    """How long notify's writes to the EHR took (all transactions of one alert together),
    from notify's own attempt log, and how many attempts it needed."""
    with psycopg.connect(system.database_url) as connection:
        rows = connection.execute(
            "SELECT duration_ms, outcome FROM delivery_attempt WHERE response_id = ANY(%s) "
            "ORDER BY attempted_at",
            (ids,),
        ).fetchall()
    durations = [row[0] / 1000 for row in rows]
    outcomes: dict[str, int] = {}
    for _, outcome in rows:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    tenth = max(1, len(durations) // 10)
    return {
        "attempts": len(rows),
        "outcomes": outcomes,
        "per_alert_ms": summary_ms(durations),
        # Does the EHR slow down as it fills up? (The Medplum test EHR does.)
        "first_tenth_p50_ms": percentile(durations[:tenth], 50) * 1000 if durations else None,
        "last_tenth_p50_ms": percentile(durations[-tenth:], 50) * 1000 if durations else None,
    }


# -- the two measurements ----------------------------------------------------------------


def fresh_ehr(system: Pipeline) -> None:
    """Empty the EHR before a phase (the Medplum EHR slows down with what it stores)."""
    system.ehr.reset()
    with system.ehr.client() as client:
        reply = client.post("/Patient", json={"resourceType": "Patient", "active": True})
        reply.raise_for_status()
        system.patient = f"Patient/{reply.json()['id']}"


def run_at_rate(
    system: Pipeline, rate: float, seconds: float, batch: str, quiet_wait: float
) -> dict[str, Any]:
    """One open-loop run; returns the sent records, backlog samples and CPU split."""
    payloads = bodies(system.patient, round(rate * seconds), batch)
    meter = CpuMeter(
        {name: pid for name, pid in system.pids.items()},
        {"postgres": harness.postgres_backends(system.database_url), "redis": "redis-server"},
    )
    harness.wait_for_quiet(quiet_wait)
    meter.start()
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_SELF)
    with BacklogSampler(system) as sampler:
        sent = asyncio.run(send_open_loop(system.stack.base_url, payloads, rate))
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cores = meter.cores(elapsed)
    cores["client"] = (
        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    ) / elapsed
    ours = sum(v for k, v in cores.items() if k != "machine")
    cores["others"] = max(0.0, cores.pop("machine") - ours)
    return {"sent": sent, "samples": sampler.samples, "cpu_cores": cores}


def steady(system: Pipeline, args: argparse.Namespace) -> dict[str, Any]:
    print(f"steady: {args.rate:g}/s for {args.duration:g} s ...", flush=True)
    fresh_ehr(system)
    batch = f"steady-{uuid.uuid4().hex[:6]}"
    run = run_at_rate(system, args.rate, args.duration, batch, args.quiet_wait)
    ids = [s.response_id for s in run["sent"] if s.response_id]
    settled = wait_settled(system, ids, args.drain_timeout)
    result = latencies(system, run["sent"])
    result["settled"] = settled
    result["cpu_cores"] = run["cpu_cores"]
    result["ehr_check"] = spot_check_ehr(system, ids, settled)
    result["ehr_writes"] = ehr_writes(system, ids)
    return result


def step_up(system: Pipeline, args: argparse.Namespace) -> list[dict[str, Any]]:
    steps = []
    for rate in (float(r) for r in args.rates.split(",")):
        print(f"step: {rate:g}/s for {args.step_duration:g} s ...", flush=True)
        fresh_ehr(system)
        batch = f"step{rate:g}-{uuid.uuid4().hex[:6]}"
        run = run_at_rate(system, rate, args.step_duration, batch, args.quiet_wait)
        step = judge_step(rate, run, args.step_duration)
        ids = [s.response_id for s in run["sent"] if s.response_id]
        drained = wait_settled(system, ids, args.drain_timeout)
        step.update(latencies(system, run["sent"]))
        step["ehr_writes"] = ehr_writes(system, ids)
        step["drained"] = drained
        steps.append(step)
        print(
            f"  {'sustained' if step['sustained'] else 'NOT sustained'}: unfinished grew "
            f"{step['unfinished_slope_per_s']:+.1f}/s, {step['unfinished_at_end']:.0f} "
            f"unfinished at the end",
            flush=True,
        )
        if not step["sustained"] or not drained:
            break
    return steps


def judge_step(rate: float, run: dict[str, Any], seconds: float) -> dict[str, Any]:
    samples = run["samples"]
    tail = [s for s in samples if s["t"] >= seconds / 4]
    growth = {
        key: slope([(s["t"], s[key]) for s in tail])
        for key in (
            "unfinished",
            "received",
            "scored",
            "outbox_due",
            "redis_screening",
            "redis_notify",
        )
    }
    last = samples[-1] if samples else {"unfinished": float("inf")}
    all_201 = all(s.status == 201 for s in run["sent"])
    sustained = growth["unfinished"] <= 0.05 * rate and last["unfinished"] <= 2 * rate and all_201
    return {
        "rate": rate,
        "sustained": sustained,
        "unfinished_slope_per_s": growth["unfinished"],
        "unfinished_at_end": last["unfinished"],
        "backlog_slopes_per_s": growth,
        "backlog_at_end": {k: v for k, v in last.items() if k != "t"},
        "cpu_cores": run["cpu_cores"],
    }


# -- the command -------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50, help="responses/s for the latency run")
    parser.add_argument("--duration", type=float, default=60, help="seconds of the latency run")
    parser.add_argument(
        "--rates", default="10,20,30,40,50,75,100,150", help="step-up rates (responses/s)"
    )
    parser.add_argument("--step-duration", type=float, default=20)
    parser.add_argument("--drain-timeout", type=float, default=180)
    parser.add_argument("--skip-steps", action="store_true")
    parser.add_argument(
        "--relay-interval",
        type=float,
        default=0.2,
        help="NEUROSCREEN_RELAY_INTERVAL_SECONDS (0.2 is the service default)",
    )
    parser.add_argument("--screening-workers", type=int, default=1, help="concurrency 1 each")
    parser.add_argument("--notify-workers", type=int, default=1, help="concurrency 1 each")
    parser.add_argument("--results-name", default=None, help="default: e2e or e2e-<ehr>")
    parser.add_argument(
        "--quiet-wait", type=float, default=120, help="max seconds to wait for an idle machine"
    )
    parser.add_argument(
        "--ehr",
        choices=("medplum", "stub"),
        default="medplum",
        help="medplum: the test EHR (tests/ehr); stub: bench/stub_ehr.py, constant time",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    load = harness.load_average()
    with harness.scratch_dir("e2e") as scratch, pipeline(scratch, args) as system:
        latency = steady(system, args)
        if not args.skip_steps and not latency["settled"]:
            print(f"not stepping up: {args.rate:g}/s did not drain in {args.drain_timeout:g} s")
        run_steps = not args.skip_steps and latency["settled"]
        steps = step_up(system, args) if run_steps else []
    report(latency, steps, args, load)


def report(
    latency: dict[str, Any], steps: list[dict[str, Any]], args: argparse.Namespace, load: float
) -> None:
    print(
        f"\n1. {args.rate:g} responses/s for {args.duration:g} s, open loop, every response "
        "alerting (Task + Communication + the screening resources in the EHR)"
    )
    rows = []
    for name, key in (
        ("POST sent -> Task in EHR", "post_to_task_ms"),
        ("intake commit -> Task in EHR", "commit_to_task_ms"),
        ("POST -> 201 (client)", "post_201_ms"),
        ("client send lag", "send_lag_ms"),
    ):
        rows.append([name, latency[key]["p50"], latency[key]["p99"], latency[key]["max"]])
    writes = latency["ehr_writes"]["per_alert_ms"]
    rows.append(["notify's EHR writes per alert", writes["p50"], writes["p99"], writes["max"]])
    growth = latency["ehr_writes"]
    rows.append(
        [
            "  same, first / last tenth (p50)",
            growth["first_tenth_p50_ms"],
            growth["last_tenth_p50_ms"],
            "",
        ]
    )
    print_table(["latency (ms)", "p50", "p99", "max"], rows)
    check = latency["ehr_check"]
    print(
        f"posted {latency['posted']:,}, 201s {latency['accepted_201']:,}, delivered "
        f"{latency['delivered']:,}, states {latency['states']}; EHR: {check['tasks_in_ehr']:,} "
        f"Tasks for {check['notified']:,} notified, sample of {check['sampled']} "
        f"{'OK' if check['ok'] else 'MISMATCH'}"
    )
    cpu = latency["cpu_cores"]
    print("cores used: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    if note := harness.disturbance_note(cpu["others"]):
        print(note)
    if steps:
        print(f"\n2. step-up, {args.step_duration:g} s per rate")
        print_table(
            [
                "rate/s",
                "sustained",
                "unfinished slope/s",
                "unfinished at end",
                "p50 POST->Task ms",
                "p99 POST->Task ms",
                "stuck in",
                "others' cores",
            ],
            [
                [
                    s["rate"],
                    "yes" if s["sustained"] else "NO",
                    s["unfinished_slope_per_s"],
                    s["unfinished_at_end"],
                    s["post_to_task_ms"]["p50"],
                    s["post_to_task_ms"]["p99"],
                    stuck_in(s),
                    f"{s['cpu_cores']['others']:.2f}",
                ]
                for s in steps
            ],
        )
        best = max((s["rate"] for s in steps if s["sustained"]), default=None)
        print(f"largest sustained rate: {best if best is not None else 'none of the steps'}")
    else:
        best = None
    harness.write_results(
        args.results_name or ("e2e" if args.ehr == "medplum" else f"e2e-{args.ehr}"),
        {
            "settings": {
                "ehr": args.ehr,
                "rate": args.rate,
                "duration_s": args.duration,
                "rates": args.rates,
                "step_duration_s": args.step_duration,
                "load_average_at_start": load,
                "answers": "EGPA_FOOT_DROP (urgent alert)",
                "ehr_max_transaction_entries": 8,
                "relay_interval_s": args.relay_interval,
                "screening_workers": args.screening_workers,
                "notify_workers": args.notify_workers,
            },
            "targets": {"post_to_task_p99_ms_at_50_per_s": 1000},
            "latency": latency,
            "steps": steps,
            "largest_sustained_rate": best,
        },
    )


def stuck_in(step: dict[str, Any]) -> str:
    """Where the backlog sat at the end of a step: which stage could not keep up."""
    end = step["backlog_at_end"]
    parts = [
        f"{name} {end[key]:.0f}"
        for name, key in (
            ("received", "received"),
            ("scored", "scored"),
            ("outbox", "outbox_due"),
            ("q:screening", "redis_screening"),
            ("q:notify", "redis_notify"),
        )
        if end.get(key)
    ]
    return ", ".join(parts) or "-"


if __name__ == "__main__":
    harness.run(main)
