"""CDS Hooks patient-view latency under load. ``python bench/cds.py`` (``make bench-cds``)

What it answers: how long an EHR waits for NeuroScreen's card when clinicians open
charts concurrently, against the target p95 ≤ 500 ms (issue 13).

How: a real intake (one uvicorn worker) and screening worker on a fresh PostgreSQL
database and Redis; ``--patients`` patients are screened by the real pipeline first
(a third urgent, a third high or moderate, a third with no nerve symptoms: low, no
card), plus the same number never screened (``{"cards": []}``). Then ``--concurrency``
EHR sessions call ``patient-view`` back to back for ``--seconds``, each call with its
own ES384 JWT (a fresh ``jti``: the replay store is exercised every time; tokens are
signed before the clock starts, so the load generator's signing does not compete with
the server). Every call is the full path: JWT checks, replay store (Redis), the latest
screening (PostgreSQL), the card, its AuditEvent and card record. Only 200s count.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import ExitStack
from typing import Any

import harness
import httpx
import yaml
from harness import CpuMeter, percentile, print_table
from support.cds import signed_jwt
from support.cds_stack import answers_in_tier
from support.pipeline import post_response, wait_for_states
from support.smart import ec_key, jwks_server, public_jwks
from support.stack import Stack

ISSUER = "https://bench-ehr.example.org"
TARGET_P95_MS = 500.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=150, help="screened patients")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent EHR sessions")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-rate", type=float, default=400.0, help="tokens pre-signed per s")
    return parser.parse_args()


def screen_patients(stack: Stack, database_url: str, count: int) -> list[str]:
    tiers = ["urgent", "high", "moderate", "low"]
    answers = {tier: answers_in_tier(tier) for tier in tiers}
    patients, responses = [], []
    for index in range(count):
        patient = f"bench-{uuid.uuid4().hex[:12]}"
        tier = tiers[index % len(tiers)]
        responses.append(post_response(stack, answers[tier], f"Patient/{patient}"))
        patients.append(patient)
    wait_for_states(database_url, responses, 300, done=lambda state: state != "received")
    return patients


async def load(
    url: str, tokens: list[str], patients: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cards = 0
    deadline = time.monotonic() + args.seconds
    next_token = iter(tokens)

    async def session(client: httpx.AsyncClient, seat: int) -> None:
        nonlocal cards
        turn = seat
        while time.monotonic() < deadline:
            token = next(next_token, None)
            if token is None:
                return
            body = {
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {
                    "userId": "Practitioner/bench",
                    "patientId": patients[turn % len(patients)],
                },
            }
            turn += args.concurrency
            started = time.perf_counter()
            reply = await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
            if reply.status_code == 200:
                cards += len(reply.json()["cards"])

    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.monotonic()
        await asyncio.gather(*(session(client, seat) for seat in range(args.concurrency)))
        elapsed = time.monotonic() - started
    return {
        "calls": len(latencies),
        "calls_per_second": len(latencies) / elapsed,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "cards": cards,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
    }


def main() -> None:
    args = parse_args()
    load_before = harness.load_average()
    key = ec_key("bench-cds-1")
    with ExitStack() as cleanup:
        scratch = cleanup.enter_context(harness.scratch_dir("cds"))
        redis_url = cleanup.enter_context(harness.clean_redis())
        database_url = cleanup.enter_context(harness.fresh_database())
        keys = cleanup.enter_context(jwks_server(public_jwks(key)))
        issuers = scratch / "cds-issuers.yaml"
        issuers.write_text(yaml.safe_dump([{"iss": ISSUER, "jwks_uri": keys.url}]))
        stack = Stack.create(database_url, redis_url, scratch, cds_issuers_file=str(issuers))
        cleanup.callback(stack.stop_all)
        intake = stack.start("intake")
        stack.start("relay")
        stack.start("screening")
        print(f"screening {args.patients} patients through the real pipeline...", flush=True)
        screened = screen_patients(stack, database_url, args.patients)
        unscreened = [f"bench-none-{i}" for i in range(args.patients)]
        patients = [p for pair in zip(screened, unscreened, strict=True) for p in pair]
        url = stack.base_url.removesuffix("/fhir") + "/cds-services/immune-neuropathy-screen"
        count = int(args.seconds * args.max_rate)
        print(f"signing {count} ES384 JWTs...", flush=True)
        tokens = [signed_jwt(key, iss=ISSUER, aud=url, exp_in=600) for _ in range(count)]
        meter = CpuMeter(
            {"intake": stack.processes[intake].pid},
            {"postgres": harness.postgres_backends(database_url), "redis": "redis-server"},
        )
        meter.start()
        results = asyncio.run(load(url, tokens, patients, args))
        results["cores_used"] = meter.cores(args.seconds)
        results["load_average_before"] = load_before
    results |= {
        "patients_screened": args.patients,
        "patients_unscreened": args.patients,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "target_p95_ms": TARGET_P95_MS,
        "met": results["p95_ms"] <= TARGET_P95_MS,
    }
    report(results)


def report(results: dict[str, Any]) -> None:
    print_table(
        ["calls/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "statuses", "target p95", "met"],
        [
            [
                results["calls_per_second"],
                results["p50_ms"],
                results["p95_ms"],
                results["p99_ms"],
                results["max_ms"],
                " ".join(f"{k}:{v}" for k, v in results["statuses"].items()),
                results["target_p95_ms"],
                "yes" if results["met"] else "NO",
            ]
        ],
    )
    harness.write_results("cds", results)


if __name__ == "__main__":
    harness.run(main)
