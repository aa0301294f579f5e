"""A client-chosen identifier cannot become search syntax in what notify sends the EHR
(issue 18, item 5).

The attack: an EHR client posts a response whose identifier value is
``x,VICTIM&patient=Patient/other``. Unescaped in ``ifNoneExist``, ``,`` ORs in the
victim's identifier and ``&`` adds a criterion, so the EHR matches (and the alert
cites) another patient's resource, or matches several and refuses every alert.
The unit tests show what goes on the wire; the Medplum test shows the EHR's verdict.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from fixtures.responses import make_response
from support.alerts import alert_bundle

from notify.alert_writer import write_alert
from notify.ehr_auth import StaticBearerAuth
from notify.ehr_client import EhrClient
from notify.escalation import current_task
from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER
from shared.fhir.search_values import escape, query, token
from shared.models import Delivery

ATTACK = "x,VICTIM&patient=Patient/other"


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain-123", "plain-123"),
        ("a,b", r"a\,b"),
        ("a|b", r"a\|b"),
        ("a$b", r"a\$b"),
        ("a\\b", "a\\\\b"),
        ("\\,", "\\\\\\,"),  # the backslash first, so an escape cannot be undone
    ],
)
def test_fhir_search_specials_are_escaped(value, escaped):
    assert escape(value) == escaped


def test_the_conditional_create_matches_the_identifier_and_nothing_else():
    response = make_response(EGPA_FOOT_DROP, identifier=("urn:ehr|mrn", ATTACK))
    bundle = alert_bundle(EGPA_FOOT_DROP, response=response)
    condition = bundle["entry"][0]["request"]["ifNoneExist"]

    criteria = parse_qsl(condition, keep_blank_values=True, strict_parsing=True)
    assert criteria == [("identifier", r"urn:ehr\|mrn|x\,VICTIM&patient=Patient/other")]
    assert condition == query({"identifier": token("urn:ehr|mrn", ATTACK)})


def test_searches_notify_sends_are_escaped_and_url_encoded():
    sent: list[httpx.Request] = []

    def ehr(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})

    client = EhrClient(
        "http://ehr.test/fhir",
        auth=StaticBearerAuth("t"),
        timeout=1,
        transport=httpx.MockTransport(ehr),
    )
    current_task(client, Delivery(response_id="r1,&_id=other", alert_round=1))
    (request,) = sent
    assert parse_qsl(request.url.query.decode()) == [
        ("identifier", SCREENING_OUTPUT_IDENTIFIER + r"|task/r1\,&_id=other")
    ]


@pytest.mark.ehr
def test_medplum_binds_each_alert_to_its_own_response(ehr: EhrServer) -> None:
    """The victim's alert is written first; the attacker's identifier ORs it in."""
    client = EhrClient(ehr.base_url, auth=None, timeout=30)
    victim = make_response(
        EGPA_FOOT_DROP, patient="Patient/other", identifier=("urn:mrn", "VICTIM")
    )
    write_alert(
        client,
        alert_bundle(
            EGPA_FOOT_DROP, response_id="victim", patient="Patient/other", response=victim
        ),
        max_entries=0,
        public_base_url="",
    )
    attack = make_response(EGPA_FOOT_DROP, patient="Patient/p1", identifier=("urn:mrn", ATTACK))
    bundle = alert_bundle(
        EGPA_FOOT_DROP, response_id="attack", patient="Patient/p1", response=attack
    )
    result = write_alert(client, bundle, max_entries=0, public_base_url="")

    assert result.refused == ()
    attackers_copy = ehr.read_reference(result.references[0])
    assert attackers_copy is not None
    assert attackers_copy["subject"]["reference"] == "Patient/p1"  # not the victim's response
    assert attackers_copy["identifier"]["value"] == ATTACK
    # Written again (a lost acknowledgement), it still matches itself: one copy, not two.
    again = write_alert(client, bundle, max_entries=0, public_base_url="")
    assert again.references[0] == result.references[0]
