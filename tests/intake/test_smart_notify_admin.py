"""The notify admin API accepts access tokens the intake issued with the admin scope."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.smart_stack import SmartStack, start_smart_stack
from support.stack import TOKEN

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def smart(postgres_server, redis_server, tmp_path_factory) -> Iterator[SmartStack]:
    for stack in start_smart_stack(postgres_server, redis_server, tmp_path_factory.mktemp("admin")):
        stack.stack.start("notify-api")
        yield stack


def deliveries(smart: SmartStack, token: str) -> httpx.Response:
    return httpx.get(
        smart.stack.notify_url + "/admin/deliveries",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_an_admin_scoped_intake_token_opens_the_admin_api(smart: SmartStack):
    token = smart.token("ehr-full", "system/neuroscreen.admin")
    reply = deliveries(smart, token)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"deliveries": []}
    assert deliveries(smart, TOKEN).status_code == 200  # static tokens still work


def test_other_tokens_are_refused(smart: SmartStack):
    no_admin = smart.token("ehr-full", "system/QuestionnaireResponse.rs")
    refused = deliveries(smart, no_admin)
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    tampered = deliveries(smart, smart.token("ehr-full", "system/neuroscreen.admin")[:-4] + "AAAA")
    assert tampered.status_code == 401
    assert deliveries(smart, "not-a-token").status_code == 401
    # A client assertion is not an access token, even though the same client signed it.
    assert deliveries(smart, smart.assertion("ehr-full")).status_code == 401
