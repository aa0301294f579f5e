"""Alerts as notify writes them, into the real, unmodified Medplum (tests/ehr), default settings,
notify signed in with SMART Backend Services (tests/ehr/smart-auth.mjs).

What a real EHR must accept: every vignette's alert, whole, without a refused first try;
each written again (a lost acknowledgement) stays exactly one Task and one Communication;
and when Medplum genuinely refuses an attachment, the alert still lands, citing NeuroScreen.
A registration that lacks the scope for one attachment type is a sign-in problem, not a
refused attachment: nothing is cited in its place and the alert fails as auth-failed.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from ehr_server import EhrServer
from fixtures.answers import EGPA_FOOT_DROP
from fixtures.responses import make_response
from joserfc.jwk import RSAKey
from support.alerts import alert_bundle

from notify.alert_writer import write_alert
from notify.ehr_auth import ehr_auth
from notify.ehr_client import DEFAULT_MAX_TRANSACTION_ENTRIES, EhrAuthFailed, EhrClient
from notify.signing_keys import load_key_ring
from shared.config import Settings
from shared.fhir.codes import SCREENING_OUTPUT_IDENTIFIER

pytestmark = pytest.mark.ehr

VIGNETTES = yaml.safe_load(
    (Path(__file__).parents[1] / "screening/vignettes.yaml").read_text("utf-8")
)
ALERTING = [v for v in VIGNETTES if v["expect"]["tier"] != "low"]
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
CLIENT = "neuroscreen-notify"


def answers_of(vignette: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in vignette["answers"].items()}


def one(ehr: EhrServer, resource_type: str, identifier: str) -> dict[str, Any]:
    found = ehr.search(resource_type, {"identifier": f"{SCREENING_OUTPUT_IDENTIFIER}|{identifier}"})
    assert len(found) == 1, f"{len(found)} {resource_type} {identifier}"
    return found[0]


def smart_client(ehr: EhrServer, tmp_path: Path, allowed: str = "system/*.cruds") -> EhrClient:
    """Notify's client, registered at the EHR with a new key and ``allowed`` scopes; it asks
    for the default scopes and gets those the registration allows."""
    key_file = tmp_path / "notify.pem"
    key_file.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    ehr.register_client(CLIENT, scope=allowed, jwks=load_key_ring(key_file).public_jwks())
    settings = Settings(
        ehr_base_url=ehr.base_url,
        ehr_auth="private-key-jwt",
        ehr_client_id=CLIENT,
        ehr_private_key_file=key_file,
    )
    return EhrClient(ehr.base_url, auth=ehr_auth(settings), timeout=30)


def test_every_alert_lands_whole_with_default_settings(ehr: EhrServer, tmp_path: Path) -> None:
    assert ALERTING, "no alerting vignette"
    defaults = Settings()
    client = smart_client(ehr, tmp_path)
    bundles = [alert_bundle(answers_of(v), response_id=f"r{n}") for n, v in enumerate(ALERTING)]
    for _ in range(2):  # the second pass is a replay after a lost acknowledgement
        for bundle in bundles:
            result = write_alert(
                client,
                bundle,
                max_entries=defaults.ehr_max_transaction_entries,
                public_base_url=defaults.public_base_url,
            )
            assert result.refused == ()
            assert len(result.references) == len(bundle["entry"])
    assert client.learned_max_entries is None, "the default size was refused"
    assert ehr.stats()["byStatus"].keys() == {"200"}
    for n in range(len(ALERTING)):
        task = one(ehr, "Task", f"task/r{n}")
        communication = one(ehr, "Communication", f"communication/r{n}")
        risk = ehr.read_reference(task["focus"]["reference"])
        assert risk is not None
        assert {"reference": f"Task/{task['id']}"} in communication["about"]
        # Narratives pass Medplum's validation and are kept as sent, for its resource views.
        sent = {e["resource"]["resourceType"]: e["resource"] for e in bundles[n]["entry"]}
        # The report, with its PDF and HTML, is in the EHR and the Task and Communication cite it.
        (cited,) = [i for i in task["input"] if i["type"]["text"] == "Screening report"]
        report = ehr.read_reference(cited["valueReference"]["reference"])
        assert report["resourceType"] == "DiagnosticReport" and report["status"] == "preliminary"
        forms = {form["contentType"]: form for form in report["presentedForm"]}
        assert forms.keys() == {"application/pdf", "text/html"}
        assert base64.b64decode(forms["application/pdf"]["data"]).startswith(b"%PDF-")
        assert {"reference": cited["valueReference"]["reference"]} in communication["about"]
        for stored in (task, communication, risk, report):
            assert stored["text"] == sent[stored["resourceType"]]["text"]
            assert stored["text"]["status"] == "generated"
        # The tier and each suspicion, qualitative; no probability, and it says so.
        for prediction in risk["prediction"]:
            assert prediction["qualitativeRisk"]["coding"]
            assert "probabilityDecimal" not in prediction
            (absent,) = prediction["probabilityRange"]["extension"]
            assert absent == {"url": DATA_ABSENT_REASON, "valueCode": "unsupported"}


def test_medplum_refusing_a_large_transaction_is_split_and_remembered(
    ehr: EhrServer, tmp_path: Path
) -> None:
    client = smart_client(ehr, tmp_path)
    bundle = alert_bundle(EGPA_FOOT_DROP, response_id="big")
    attachments = len(bundle["entry"]) - 2
    assert attachments > DEFAULT_MAX_TRANSACTION_ENTRIES  # Medplum's limit matters here
    result = write_alert(client, bundle, max_entries=100, public_base_url="")  # a bad override
    assert result.refused == ()
    assert ehr.stats()["byStatus"]["400"] >= 1  # Medplum did refuse the first try
    learned = client.learned_max_entries
    assert learned is not None and learned <= DEFAULT_MAX_TRANSACTION_ENTRIES
    one(ehr, "Task", "task/big")
    one(ehr, "Communication", "communication/big")
    refusals = ehr.stats()["byStatus"]["400"]
    write_alert(
        client,
        alert_bundle(EGPA_FOOT_DROP, response_id="next"),
        max_entries=100,
        public_base_url="",
    )
    assert ehr.stats()["byStatus"]["400"] == refusals  # not rediscovered
    one(ehr, "Task", "task/next")


def test_an_attachment_medplum_refuses_leaves_the_alert_standing(
    ehr: EhrServer, tmp_path: Path
) -> None:
    # Intake accepts this response; Medplum does not (ext-1: an extension has a value or
    # sub-extensions, not both). The copy of the response is an attachment.
    response = make_response(EGPA_FOOT_DROP, patient="Patient/p1")
    response["extension"] = [
        {
            "url": "http://example.org/ehr-note",
            "valueString": "x",
            "extension": [{"url": "a", "valueString": "b"}],
        }
    ]
    base = "https://neuroscreen.example.org/fhir"
    client = smart_client(ehr, tmp_path)
    bundle = alert_bundle(EGPA_FOOT_DROP, response_id="odd", response=copy.deepcopy(response))
    for _ in range(2):  # and again: still exactly once
        result = write_alert(client, bundle, max_entries=0, public_base_url=base)
        (refusal,) = result.refused
        assert refusal.resource_type == "QuestionnaireResponse"
        assert refusal.status == 400
        assert refusal.outcome["issue"][0]["code"] == "invariant"
    task = one(ehr, "Task", "task/odd")
    communication = one(ehr, "Communication", "communication/odd")
    assert ehr.search("QuestionnaireResponse") == []
    risk = ehr.read_reference(task["focus"]["reference"])
    assert f"{base}/QuestionnaireResponse/odd" in [b.get("reference") for b in risk["basis"]]
    note = communication["payload"][-1]["contentString"]
    assert "QuestionnaireResponse" in note
    assert f"{base}/RiskAssessment/" in note


def test_a_scope_missing_for_an_attachment_fails_the_alert_as_auth(
    ehr: EhrServer, tmp_path: Path
) -> None:
    # Registered for everything but RiskAssessment: the EHR answers 403 to its create.
    allowed = " ".join(
        f"system/{kind}.cruds"
        for kind in ("QuestionnaireResponse", "Observation", "ServiceRequest", "Task")
    )
    client = smart_client(ehr, tmp_path, allowed=f"{allowed} system/Communication.cruds")
    bundle = alert_bundle(EGPA_FOOT_DROP, response_id="scope")
    with pytest.raises(EhrAuthFailed) as caught:
        write_alert(client, bundle, max_entries=0, public_base_url="https://ns.example/fhir")
    assert caught.value.status == 403
    # No probing one by one and no alert citing NeuroScreen's copy: the registration is wrong.
    assert ehr.smart()["stats"]["forbidden"] == 1
    assert ehr.search("Task") == []
    assert ehr.search("Communication") == []
