"""Rotating notify's SMART signing key on real processes, as deploy/README.md describes it:
add the new key at the end of the file (both published, the new one signs), then drop the
old one. No alert is lost or duplicated on the way, and the EHR sees the new ``kid``."""

from __future__ import annotations

from pathlib import Path

import httpx
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from joserfc.jwk import ECKey
from support.pipeline import audit_ehr, create_patient, post_response, wait_for_states
from support.stack import Stack


def published_kids(stack: Stack) -> list[str]:
    jwks = httpx.get(f"{stack.notify_url}/.well-known/jwks.json", timeout=10).json()
    return [key["kid"] for key in jwks["keys"]]


def restart_notify(stack: Stack) -> None:
    """Keys are read at start-up: restart the API (publishes) and the worker (signs)."""
    for name in ("notify-api", "notify"):
        stack.stop(stack.key_of(name))
    stack.start("notify-api")
    stack.start("notify")


def alert_is_delivered(stack: Stack, postgres_url: str, patient: str) -> str:
    response_id = post_response(stack, EGPA_FOOT_DROP, patient)
    assert wait_for_states(postgres_url, [response_id], 60)[response_id] == "notified"
    return response_id


def test_key_rotation_keeps_alerts_flowing(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    ehr = ehr_with_token
    patient = create_patient(ehr)
    key_file = Path(pipeline.env["NEUROSCREEN_EHR_PRIVATE_KEY_FILE"])
    public_file = Path(pipeline.env["NEUROSCREEN_EHR_PUBLIC_KEYS_FILE"])
    old_pem, old_public = key_file.read_bytes(), public_file.read_bytes()
    delivered = [alert_is_delivered(pipeline, postgres_url, patient)]
    (old_kid,) = published_kids(pipeline)
    assert set(ehr.smart()["stats"]["assertionKids"]) == {old_kid}

    new_key = ECKey.generate_key("P-384")  # and the algorithm changes too: RS384 → ES384
    key_file.write_bytes(old_pem + new_key.as_pem(private=True))
    public_file.write_bytes(old_public + new_key.as_pem(private=False))
    restart_notify(pipeline)
    assert published_kids(pipeline) == [old_kid, new_key.thumbprint()]
    delivered.append(alert_is_delivered(pipeline, postgres_url, patient))
    assert ehr.smart()["stats"]["assertionKids"].get(new_key.thumbprint(), 0) >= 1

    key_file.write_bytes(new_key.as_pem(private=True))  # the EHR's cache has expired
    public_file.write_bytes(new_key.as_pem(private=False))
    restart_notify(pipeline)
    assert published_kids(pipeline) == [new_key.thumbprint()]
    delivered.append(alert_is_delivered(pipeline, postgres_url, patient))
    assert ehr.smart()["stats"]["tokenErrors"] == {}
    audit_ehr(ehr, delivered)
