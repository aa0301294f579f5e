"""Attacks on the EHR bearer token through URLs the EHR hands back (issue 18, items 2, 10).

A compromised or misconfigured EHR answers a search with a ``next`` link to another
host, or publishes a ``token_endpoint`` elsewhere: notify must send nothing there.
The EHR and the attacker's host are one fake transport that records every request,
so each test sees exactly what would have left notify and where.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from joserfc.jwk import RSAKey

from notify.ehr_auth import StaticBearerAuth, ehr_auth
from notify.ehr_client import EhrAuthFailed, EhrClient, ForeignLink
from notify.follow_up import follow_up
from shared.config import Settings, get_settings
from shared.db import session_scope
from shared.models import PeriodicJob
from shared.tasks import FOLLOW_UP_TASKS

BASE = "https://ehr.test/fhir"
TOKEN = "the-ehr-access-token"


class Network:
    """The EHR at https://ehr.test and every other host; each request is recorded."""

    def __init__(self, next_link: str | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.next_link = next_link
        self.token_endpoint = "https://ehr.test/auth/token"
        self.pages = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/.well-known/smart-configuration"):
            return httpx.Response(200, json={"token_endpoint": self.token_endpoint})
        if request.url.path.endswith("/auth/token"):
            return httpx.Response(
                200, json={"access_token": TOKEN, "token_type": "bearer", "expires_in": 300}
            )
        self.pages += 1
        link = self.next_link or f"{BASE}/Task?page={self.pages}"  # default: endless pages
        return httpx.Response(
            200,
            json={
                "resourceType": "Bundle",
                "type": "searchset",
                "link": [{"relation": "next", "url": link}],
                "entry": [{"resource": {"resourceType": "Task", "id": f"t{self.pages}"}}],
            },
        )

    def hosts(self) -> set[str]:
        return {f"{r.url.scheme}://{r.url.netloc.decode()}" for r in self.requests}


def static_client(network: Network, pages: int = 1000) -> EhrClient:
    return EhrClient(
        BASE,
        auth=StaticBearerAuth(TOKEN),
        timeout=1,
        max_search_pages=pages,
        transport=httpx.MockTransport(network),
    )


@pytest.mark.parametrize(
    "link",
    [
        "https://attacker.test/fhir/Task?page=2",  # another host
        "http://ehr.test/fhir/Task?page=2",  # the same host without TLS
        "https://ehr.test:8443/fhir/Task?page=2",  # the same host on another port
        "https://ehr.test.attacker.test/fhir/Task?page=2",  # a look-alike host
    ],
)
def test_a_next_link_off_the_ehr_origin_is_never_followed(link):
    network = Network(next_link=link)
    with pytest.raises(ForeignLink) as refused:
        static_client(network).search("Task", {"code": "x"})

    assert network.hosts() == {"https://ehr.test"}  # the first page only
    assert len(network.requests) == 1
    assert "not followed" in str(refused.value)
    assert TOKEN not in str(refused.value) and "page=2" not in str(refused.value)


def test_a_next_link_on_the_ehr_origin_is_followed_with_the_token():
    network = Network(next_link=None)
    client = static_client(network, pages=3)
    with pytest.raises(ForeignLink):  # endless pages: stopped at the cap
        client.search("Task", {"code": "x"})

    assert len(network.requests) == 3
    assert {r.headers["Authorization"] for r in network.requests} == {f"Bearer {TOKEN}"}


def test_endless_pages_stop_at_the_cap():
    network = Network()
    with pytest.raises(ForeignLink) as refused:
        static_client(network, pages=5).search("Task", {"code": "x"})
    assert len(network.requests) == 5
    assert "more than 5 pages" in str(refused.value)


def test_a_default_port_spelled_out_is_the_same_origin():
    network = Network(next_link="https://EHR.test:443/fhir/Task?page=1")
    client = static_client(network, pages=1000)
    # The link repeats itself after the first hop, so the search ends on the seen-set.
    assert [t["id"] for t in client.search("Task", {"code": "x"})] == ["t1", "t2"]


@pytest.mark.usefixtures("configured")
def test_the_follow_up_job_fails_visibly_instead_of_leaking_the_token():
    network = Network(next_link="https://attacker.test/steal")
    with session_scope() as session:
        follow_up(session, get_settings(), static_client(network))
    with session_scope() as session:
        job = session.get(PeriodicJob, FOLLOW_UP_TASKS.name)
        assert job is not None and job.last_failure == "fatal" and job.last_success_at is None
    assert "https://attacker.test" not in network.hosts()


def client_signing_in(network: Network, tmp_path: Path, **settings: object) -> EhrClient:
    config = Settings(ehr_base_url=BASE, ehr_client_id="neuroscreen", **settings)
    transport = httpx.MockTransport(network)
    return EhrClient(BASE, auth=ehr_auth(config, transport), timeout=1, transport=transport)


def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.pem"
    path.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    return path


@pytest.mark.parametrize("mode", ["client-secret-basic", "private-key-jwt"])
def test_a_discovered_token_endpoint_on_another_origin_gets_no_credentials(tmp_path, mode):
    network = Network()
    network.token_endpoint = "https://attacker.test/auth/token"
    credentials = (
        {"ehr_client_secret": "the-client-secret"}
        if mode == "client-secret-basic"
        else {"ehr_private_key_file": key_file(tmp_path)}
    )
    client = client_signing_in(network, tmp_path, ehr_auth=mode, **credentials)

    with pytest.raises(EhrAuthFailed) as refused:
        client.search("Task", {"code": "x"})

    assert network.hosts() == {"https://ehr.test"}  # discovery only
    assert [r.url.path for r in network.requests] == ["/fhir/.well-known/smart-configuration"]
    assert "NEUROSCREEN_EHR_TOKEN_URL" in str(refused.value)


def test_a_token_url_on_another_origin_is_used_when_configured_explicitly(tmp_path):
    network = Network(next_link=f"{BASE}/Task?page=1")
    client = client_signing_in(
        network,
        tmp_path,
        ehr_auth="client-secret-basic",
        ehr_client_secret="the-client-secret",
        ehr_token_url="https://login.ehr-vendor.test/auth/token",
    )
    client.search("Task", {"code": "x"})
    assert network.hosts() == {"https://login.ehr-vendor.test", "https://ehr.test"}
    assert network.requests[0].headers["Authorization"].startswith("Basic ")
