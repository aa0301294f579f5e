"""The CDS Hooks issuers file: a jwks_uri, or the public JWK Set inline (as for SMART clients)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey

from intake.cds.issuers import IssuerRegistry
from shared.trust.jwks import FetchedKeys, InlineKeys


def registry(tmp_path: Path, entries: list[dict]) -> IssuerRegistry:
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps(entries))
    return IssuerRegistry(path, httpx.AsyncClient())


def test_an_inline_key_set_verifies_without_a_fetch(tmp_path: Path):
    key = ECKey.generate_key("P-384", parameters={"kid": "local-1"}, private=True)
    trusted = registry(tmp_path, [{"iss": "urn:ehr", "jwks": {"keys": [key.as_dict()]}}])
    issuer = trusted.get("urn:ehr")
    assert issuer is not None and issuer.jwks_uri is None  # so no jku header is accepted
    assert isinstance(issuer.keys, InlineKeys)
    found = asyncio.run(issuer.keys.key_for("local-1"))
    assert found.as_dict(private=False) == key.as_dict(private=False)


def test_a_jwks_uri_is_still_fetched(tmp_path: Path):
    entry = {"iss": "urn:ehr", "jwks_uri": "https://ehr.example.org/jwks.json"}
    issuer = registry(tmp_path, [entry]).get("urn:ehr")
    assert issuer is not None and isinstance(issuer.keys, FetchedKeys)


@pytest.mark.parametrize(
    "entry",
    [
        {"iss": "urn:ehr"},
        {"iss": "urn:ehr", "jwks_uri": "https://ehr.example.org/jwks", "jwks": {"keys": []}},
        {"iss": "urn:ehr", "jwks": {"not": "a key set"}},
    ],
)
def test_one_key_source_exactly(tmp_path: Path, entry: dict):
    with pytest.raises(ValueError, match=r"jwks|JWK Set"):
        registry(tmp_path, [entry])
