"""``GET /fhir/RiskAssessment/{id}/$report`` on the real pipeline: the report a person opens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.cds_stack import CdsService, start_cds_service


@pytest.fixture(scope="module")
def cds(
    postgres_server: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CdsService]:
    yield from start_cds_service(postgres_server, redis_server, tmp_path_factory.mktemp("report"))


def test_the_report_is_html_for_a_browser_and_pdf_when_asked(cds: CdsService):
    risk, requests = cds.stored("urgent")
    url = f"/RiskAssessment/{risk['id']}/$report"
    with cds.stack.client() as api:
        page = api.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "Urgent: same-day assessment" in page.text
        assert "Have you suddenly been unable to lift your foot" in page.text
        assert "Same-day emergency assessment" in page.text
        assert all(r["code"]["text"] in page.text for r in requests)
        pdf = api.get(url, headers={"Accept": "application/pdf"})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")
        assert api.get(url, headers={"Accept": ""}).headers["content-type"].startswith("text/html")


def test_other_forms_unknown_results_and_strangers_get_an_operation_outcome(cds: CdsService):
    risk, _ = cds.stored("high")
    with cds.stack.client() as api:
        refused = api.get(
            f"/RiskAssessment/{risk['id']}/$report", headers={"Accept": "application/fhir+json"}
        )
        assert refused.status_code == 406
        assert refused.json()["resourceType"] == "OperationOutcome"
        missing = api.get("/RiskAssessment/no-such-id/$report", headers={"Accept": "text/html"})
        assert missing.status_code == 404
        assert missing.json()["issue"][0]["code"] == "not-found"
        stranger = api.get(
            f"/RiskAssessment/{risk['id']}/$report", headers={"Authorization": "Bearer nope"}
        )
        assert stranger.status_code == 401


def test_the_capability_statement_declares_the_operation(cds: CdsService):
    with cds.stack.client() as api:
        statement = api.get("/metadata").json()
    (risk,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "RiskAssessment"]
    assert [op["name"] for op in risk["operation"]] == ["report"]
