"""How much does validating a QuestionnaireResponse cost? ``python bench/validation.py``

Times, per response, on the realistic 40-answer sample (tests/fixtures/qr-sample.json):

- ``orjson.loads``: the floor, parsing alone;
- fhir.resources: ``QuestionnaireResponse.model_validate`` on the parsed dict
  (structure only, what a naive implementation would run for every POST);
- intake, fast path: ``validate_questionnaire_response`` end to end (parse,
  structure, Questionnaire rules, answer extraction), and the fast structural
  check alone (the part that replaces fhir.resources);
- intake, fallback: the same for a response the fast path hands to
  fhir.resources (it carries a ``_status`` primitive extension), to show what
  an unusual but valid response costs.

Each figure is the median of many rounds, so a noisy machine moves it little.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "services/intake")]

from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse  # noqa: E402

from intake.validation import validate_questionnaire_response  # noqa: E402
from intake.validation.fast_path import fully_understood  # noqa: E402

SAMPLE = ROOT / "tests/fixtures/qr-sample.json"


def median_us(call: Callable[[], Any], *, rounds: int = 200, per_round: int = 20) -> float:
    """Median over ``rounds`` of the mean time of ``per_round`` calls, in microseconds."""
    for _ in range(per_round):
        call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            call()
        samples.append((time.perf_counter() - start) / per_round * 1e6)
    return statistics.median(samples)


def main() -> None:
    body = SAMPLE.read_bytes()
    resource = orjson.loads(body)
    answered = sum(1 for _ in _answered_items(resource["item"]))
    unusual = dict(resource, _status={"extension": [{"url": "urn:x", "valueString": "x"}]})
    unusual_body = orjson.dumps(unusual)
    assert fully_understood(resource), "the sample must take the fast path"
    assert not fully_understood(unusual), "the unusual response must take the fallback"
    validate_questionnaire_response(unusual_body)

    loads = median_us(lambda: orjson.loads(body))
    library = median_us(lambda: QuestionnaireResponse.model_validate(orjson.loads(body)), rounds=60)
    ours = median_us(lambda: validate_questionnaire_response(body))
    structure = median_us(lambda: fully_understood(resource))
    fallback = median_us(lambda: validate_questionnaire_response(unusual_body), rounds=60)

    print(f"sample: {SAMPLE.relative_to(ROOT)} ({len(body)} bytes, {answered} answered items)")
    print(f"{'orjson.loads':<44}{loads:>9.1f} µs")
    print(f"{'fhir.resources model_validate (+ loads)':<44}{library:>9.1f} µs")
    print(f"{'validate_questionnaire_response, fast path':<44}{ours:>9.1f} µs")
    print(f"{'  of which the fast structural check':<44}{structure:>9.1f} µs")
    print(f"{'validate_questionnaire_response, fallback':<44}{fallback:>9.1f} µs")
    print(f"fast path / orjson.loads     = {ours / loads:6.1f}x")
    print(f"fhir.resources / fast path   = {library / ours:6.1f}x")
    print(f"fhir.resources / fast check  = {library / structure:6.1f}x  (structure alone)")
    print(f"fallback / fhir.resources    = {fallback / library:6.2f}x")


def _answered_items(items: list[dict[str, Any]]) -> Any:
    for item in items:
        if item.get("answer"):
            yield item
        yield from _answered_items(item.get("item", []))


if __name__ == "__main__":
    main()
