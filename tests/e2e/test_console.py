"""The operations console on the real pipeline, as a browser speaks to it (cookies and forms).

A delivered alert and a dead letter (a botched key rotation at the EHR: the sign-in is
refused) are on the page; the replay form needs the session's CSRF token; the admin
API's refusals are OperationOutcomes.
"""

from __future__ import annotations

import re

import httpx
from ehr_server import EhrServer
from support.console import dead_letter_and_delivered
from support.pipeline import register_notify, wait_for_states
from support.stack import TOKEN, Stack

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def test_console_sign_in_page_replay_and_errors(
    pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    delivered, dead = dead_letter_and_delivered(pipeline, postgres_url, ehr_with_token)
    with httpx.Client(base_url=pipeline.notify_url, timeout=20) as browser:
        # Not signed in: the page sends the browser to the login form.
        first = browser.get("/console")
        assert first.status_code == 303 and first.headers["location"] == "/console/login"
        refused = browser.post("/console/login", data={"token": "wrong"})
        assert refused.status_code == 401 and "A valid bearer token is required" in refused.text
        signed_in = browser.post("/console/login", data={"token": TOKEN})
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert "secure" not in cookie  # plain http here; behind https it is Secure:
        behind_tls = httpx.post(
            f"{pipeline.notify_url}/console/login",
            data={"token": TOKEN},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert "; secure" in behind_tls.headers["set-cookie"].lower()

        page = browser.get("/console")
        assert page.status_code == 200
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "<script" not in page.text
        assert delivered in page.text and dead in page.text
        assert "dead-letter" in page.text and "invalid_client" in page.text  # the EHR's refusal
        assert "neuroscreen-kb 2." in page.text
        report = browser.get(f"/console/report/{delivered}")
        assert report.status_code == 200 and "Urgent: same-day assessment" in report.text

        # The replay form needs the page's CSRF token.
        forged = browser.post(f"/console/replay/{dead}", data={"csrf": "0" * 64})
        assert forged.status_code == 403
        assert wait_for_states(postgres_url, [dead], 5)[dead] == "dead-letter"
        register_notify(ehr_with_token, pipeline)  # the cause is fixed
        (csrf,) = set(CSRF.findall(page.text))
        replayed = browser.post(f"/console/replay/{dead}", data={"csrf": csrf})
        assert replayed.status_code == 303
        assert wait_for_states(postgres_url, [dead], 60)[dead] == "notified"
        assert "Replay queued" in browser.get(replayed.headers["location"]).text

        browser.post("/console/logout")
        assert browser.get("/console").status_code == 303

    # The admin API answers in FHIR: refusals and unknowns are OperationOutcomes.
    anonymous = httpx.get(f"{pipeline.notify_url}/admin/deliveries", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/fhir+json"
    assert anonymous.json()["issue"][0]["code"] == "login"
    admin = {"Authorization": f"Bearer {TOKEN}"}
    missing = httpx.get(f"{pipeline.notify_url}/admin/deliveries/nope", headers=admin, timeout=10)
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"
    bad = httpx.get(f"{pipeline.notify_url}/admin/deliveries?limit=0", headers=admin, timeout=10)
    assert bad.status_code == 400 and bad.json()["issue"][0]["code"] == "invalid"
