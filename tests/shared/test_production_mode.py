"""``NEUROSCREEN_ENV=production`` refuses development shortcuts at start-up, and static
tokens carry configured scopes, never admin by default (issue 18, item 7).

The attack: a leaked or default static token (``dev-token``, a deploy file's ``REPLACE-ME``)
reaching a production intake with every scope and the audit trail; links and token
issuers taken from a forged ``Host`` header.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import DEFAULT_STATIC_TOKEN_SCOPES, Settings
from shared.trust.scopes import ADMIN_SCOPE, parse_scopes

GOOD_TOKEN = "0123456789abcdef" * 4
PRODUCTION = {
    "env": "production",
    "intake_tokens": GOOD_TOKEN,
    "notify_tokens": GOOD_TOKEN[::-1],
    "public_base_url": "https://neuroscreen.example.org/fhir",
    "database_url": "postgresql://neuroscreen:" + "p" * 32 + "@postgres/neuroscreen",
}


def refusal(**changes: object) -> str:
    with pytest.raises(ValidationError) as refused:
        Settings(**{**PRODUCTION, **changes})
    text = str(refused.value)
    assert "NEUROSCREEN_ENV=production refuses to start" in text
    return text


def test_a_complete_production_configuration_starts():
    assert Settings(**PRODUCTION).production


@pytest.mark.parametrize("token", ["dev-token", "test-token"])
def test_well_known_tokens_are_refused(token):
    text = refusal(intake_tokens=f"{GOOD_TOKEN},{token}")
    assert "NEUROSCREEN_INTAKE_TOKENS holds a well-known development token" in text


def test_short_tokens_are_refused_and_never_echoed():
    short = "s3cr3t-but-short"
    text = refusal(notify_tokens=short)
    assert "NEUROSCREEN_NOTIFY_TOKENS holds a token shorter than 32 bytes" in text
    assert short not in text


@pytest.mark.parametrize(
    "changes",
    [
        {"intake_tokens": "REPLACE-ME" + "x" * 32},
        {"ehr_token": "REPLACE-ME", "ehr_auth": "static"},
        {"database_url": "postgresql://neuroscreen:REPLACE-ME@postgres:5432/neuroscreen"},
    ],
)
def test_placeholders_left_in_secrets_are_refused(changes):
    assert "still holds the REPLACE-ME placeholder" in refusal(**changes)


def test_an_empty_or_plain_http_public_base_url_is_refused():
    assert "NEUROSCREEN_PUBLIC_BASE_URL is empty" in refusal(public_base_url="")
    text = refusal(public_base_url="http://neuroscreen.example.org/fhir")
    assert "NEUROSCREEN_PUBLIC_BASE_URL must be https://" in text


def test_development_keeps_what_make_run_and_the_tests_need():
    settings = Settings(intake_tokens="dev-token")
    assert not settings.production and settings.intake_tokens == ("dev-token",)


def test_static_tokens_are_never_admin_by_default():
    settings = Settings(intake_tokens=GOOD_TOKEN)
    grants = parse_scopes(settings.intake_token_scopes)
    assert settings.intake_token_scopes == DEFAULT_STATIC_TOKEN_SCOPES
    assert not grants.has(ADMIN_SCOPE)
    assert grants.allows("QuestionnaireResponse", "c")
    # ...so they do not stand in for the notify admin API's tokens either.
    assert settings.notify_tokens == ()


def test_static_token_scopes_are_configured_explicitly():
    scopes = f"system/QuestionnaireResponse.c {ADMIN_SCOPE}"
    settings = Settings(intake_tokens=GOOD_TOKEN, intake_token_scopes=scopes)
    grants = parse_scopes(settings.intake_token_scopes)
    assert grants.has(ADMIN_SCOPE) and not grants.allows("QuestionnaireResponse", "r")
    assert settings.notify_tokens == (GOOD_TOKEN,)
    with pytest.raises(ValidationError, match="NEUROSCREEN_INTAKE_TOKEN_SCOPES"):
        Settings(intake_tokens=GOOD_TOKEN, intake_token_scopes="everything please")
