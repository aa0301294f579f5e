"""Plain http for keys and EHR credentials is refused in production (issue 18, item 10).

The attack: a network attacker between NeuroScreen and a ``jwks_uri``, the EHR base or
the token URL swaps the keys, or reads the EHR token, the client secret or an assertion.
In production (``NEUROSCREEN_ENV=production``) such a configuration never starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from intake.cds.issuers import IssuerRegistry
from intake.smart.clients import ClientRegistry
from shared.config import Settings
from shared.trust.jwks import FetchPolicy

STATIC = {"ehr_auth": "static", "ehr_token": "t" * 40}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"ehr_base_url": "http://ehr.example.org/fhir", **STATIC}, "NEUROSCREEN_EHR_BASE_URL"),
        (
            {
                "ehr_base_url": "https://ehr.example.org/fhir",
                "ehr_auth": "client-secret-basic",
                "ehr_client_id": "neuroscreen",
                "ehr_client_secret": "s" * 40,
                "ehr_token_url": "http://login.example.org/token",
            },
            "NEUROSCREEN_EHR_TOKEN_URL",
        ),
    ],
)
def test_production_refuses_plain_http_ehr_urls(settings, named):
    with pytest.raises(ValidationError) as refused:
        Settings(env="production", **settings)
    assert named in str(refused.value) and "https://" in str(refused.value)
    assert "s" * 40 not in str(refused.value)  # the secret is never echoed
    Settings(**settings)  # development (make run, the tests' EHR) keeps http


def test_production_accepts_https_ehr_urls():
    settings = Settings(
        env="production",
        public_base_url="https://neuroscreen.example.org/fhir",
        ehr_base_url="https://ehr.example.org/fhir",
        ehr_token_url="https://ehr.example.org/auth/token",
        **STATIC,
    )
    assert settings.production


def registry_file(tmp_path: Path, entries: list[dict[str, object]]) -> Path:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(entries))
    return path


@pytest.mark.parametrize(
    ("registry", "entry"),
    [
        (ClientRegistry, {"client_id": "epic", "scope": "system/QuestionnaireResponse.c"}),
        (IssuerRegistry, {"iss": "https://ehr.example.org"}),
    ],
)
def test_production_refuses_a_plain_http_jwks_uri(tmp_path, registry, entry):
    path = registry_file(tmp_path, [{**entry, "jwks_uri": "http://ehr.example.org/jwks"}])
    with pytest.raises(ValueError, match="jwks_uri must be an https URL"):
        registry(path, httpx.AsyncClient(), FetchPolicy(https_only=True))
    registry(path, httpx.AsyncClient(), FetchPolicy())  # development: allowed

    secure = registry_file(tmp_path, [{**entry, "jwks_uri": "https://ehr.example.org/jwks"}])
    assert len(registry(secure, httpx.AsyncClient(), FetchPolicy(https_only=True)).entries) == 1
