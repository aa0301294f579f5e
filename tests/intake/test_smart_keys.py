"""The intake's signing keys: generated once, rotated without breaking tokens in flight."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest
from joserfc.jwk import RSAKey

from intake.smart.keys import SigningKeys, _generate_once
from shared.trust import UnknownKey
from shared.trust.access_tokens import access_token_kid, issue_access_token, verify_access_token

BASE = "https://intake.example/fhir"


def _token(keys: SigningKeys) -> str:
    token, _ = issue_access_token(
        keys.signing_key, issuer=BASE, audience=BASE, client_id="ehr", scope="system/X.c"
    )
    return token


def _write(path: Path, *keys: RSAKey) -> None:
    path.write_bytes(orjson.dumps({"keys": [k.as_dict(private=True) for k in keys]}))
    later = time.time() + 5  # a distinct mtime, however fast the test runs
    os.utime(path, (later, later))


def test_a_key_is_generated_once_and_kept_private(tmp_path: Path):
    path = tmp_path / "keys.json"
    _generate_once(path)
    first = path.read_bytes()
    _generate_once(path)
    assert path.read_bytes() == first
    assert path.stat().st_mode & 0o777 == 0o600
    public = SigningKeys(path).public_jwks()["keys"][0]
    assert "d" not in public and public["alg"] == "RS384"


def test_rotation_keeps_tokens_signed_by_the_previous_key_valid(tmp_path: Path):
    path = tmp_path / "keys.json"
    old = RSAKey.generate_key(2048, parameters={"kid": "old"}, private=True)
    new = RSAKey.generate_key(2048, parameters={"kid": "new"}, private=True)
    _write(path, old)
    keys = SigningKeys(path)
    in_flight = _token(keys)
    _write(path, new, old)  # step 1: the new key first, the old one kept
    keys.reload()
    assert access_token_kid(_token(keys)) == "new"
    key = keys.verification_key(access_token_kid(in_flight))
    assert verify_access_token(in_flight, key, issuer=BASE, audience=BASE).client_id == "ehr"
    _write(path, new)  # step 2, a token lifetime later: the old key removed
    keys.reload()
    with pytest.raises(UnknownKey):
        keys.verification_key("old")


def test_a_broken_file_is_refused_at_start(tmp_path: Path):
    path = tmp_path / "keys.json"
    path.write_text('{"keys": [{"kty": "RSA", "n": "x", "e": "AQAB", "kid": "public-only"}]}')
    with pytest.raises(ValueError, match="private RSA keys"):
        SigningKeys(path)
