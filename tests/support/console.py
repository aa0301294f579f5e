"""A pipeline with one alert in the EHR and one dead letter, for the console's tests."""

from __future__ import annotations

from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from joserfc.jwk import RSAKey

from support.pipeline import SMART_CLIENT_ID, create_patient, post_response, wait_for_states
from support.stack import Stack


def dead_letter_and_delivered(
    pipeline: Stack, postgres_url: str, ehr: EhrServer
) -> tuple[str, str]:
    """One alert in the EHR, then one dead-lettered by a refused sign-in (a botched key
    rotation at the EHR); ``register_notify`` fixes the cause."""
    patient = create_patient(ehr)
    delivered = post_response(pipeline, EGPA_FOOT_DROP, patient)
    assert wait_for_states(postgres_url, [delivered], 60)[delivered] == "notified"
    other_key = RSAKey.generate_key(2048).as_dict(private=False)
    ehr.register_client(SMART_CLIENT_ID, scope="system/*.cruds", jwks={"keys": [other_key]})
    ehr.revoke_tokens()  # the token notify holds from the first alert must not carry it through
    dead = post_response(pipeline, EGPA_FOOT_DROP, patient)
    assert wait_for_states(postgres_url, [dead], 60)[dead] == "dead-letter"
    return delivered, dead
