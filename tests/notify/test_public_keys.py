"""The notify API publishes NeuroScreen's public keys without holding the private key
(issue 18, item 11).

The attack: whoever takes over the notify admin API (it faces operators, and an EHR
fetches its JWKS URL) would read the key that signs NeuroScreen's client assertions
and could sign in to the EHR as NeuroScreen. The API now reads only the public keys
file; given a private key, it refuses to start.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey, RSAKey

from notify.app import create_app
from notify.signing_keys import KeyFileError, load_key_ring, load_public_jwks
from shared.config import Settings


def api(**settings: object) -> TestClient:
    return TestClient(create_app(Settings(notify_tokens=("admin",), **settings)))


def test_the_published_keys_are_the_ones_that_sign(tmp_path: Path):
    old, new = RSAKey.generate_key(2048), ECKey.generate_key("P-384")
    private = tmp_path / "private.pem"
    private.write_bytes(old.as_pem(private=True) + new.as_pem(private=True))
    public = tmp_path / "public.pem"  # as `openssl pkey -pubout` writes each
    public.write_bytes(old.as_pem(private=False) + new.as_pem(private=False))

    published = api(ehr_public_keys_file=public, ehr_key_id="").get("/.well-known/jwks.json")
    assert published.json() == load_key_ring(private).public_jwks()

    as_jwks = tmp_path / "public.json"
    as_jwks.write_text(json.dumps(load_key_ring(private, "2026-12").public_jwks()))
    assert load_public_jwks(as_jwks) == load_key_ring(private, "2026-12").public_jwks()


@pytest.mark.parametrize("form", ["pem", "jwk"])
def test_the_api_refuses_to_start_with_a_private_key(tmp_path: Path, form: str):
    key = RSAKey.generate_key(2048)
    path = tmp_path / "keys"
    if form == "pem":
        path.write_bytes(key.as_pem(private=True))
    else:
        path.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    with pytest.raises(KeyFileError, match="public keys only"):
        api(ehr_public_keys_file=path)


def test_the_api_never_opens_the_private_key_file(tmp_path: Path):
    public = tmp_path / "public.pem"
    public.write_bytes(ECKey.generate_key("P-384").as_pem(private=False))
    client = api(  # the worker's settings, private key path included: it is never read
        ehr_auth="private-key-jwt",
        ehr_client_id="neuroscreen",
        ehr_private_key_file=tmp_path / "not-mounted-here.pem",
        ehr_public_keys_file=public,
    )
    assert len(client.get("/.well-known/jwks.json").json()["keys"]) == 1
