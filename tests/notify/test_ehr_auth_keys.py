"""The key file, the published JWK Set and the EHR-auth settings checked at start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from pydantic import ValidationError

from notify.signing_keys import KeyFileError, load_key_ring
from shared.config import Settings

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}
EHR = {"ehr_base_url": "https://ehr.example/fhir"}


def write(tmp_path: Path, content: bytes | dict, name: str = "key") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


def test_with_several_keys_all_are_published_and_the_last_one_signs(tmp_path):
    old, new = RSAKey.generate_key(2048), ECKey.generate_key("P-384")
    ring = load_key_ring(write(tmp_path, old.as_pem(private=True) + new.as_pem(private=True)))
    published = ring.public_jwks()["keys"]
    assert [k["kid"] for k in published] == [old.thumbprint(), new.thumbprint()]
    assert [k["alg"] for k in published] == ["RS384", "ES384"]
    assert all(not PRIVATE_MEMBERS & set(k) for k in published)
    assertion = ring.client_assertion("neuroscreen", "https://ehr.example/token")
    token = jwt.decode(assertion, new, algorithms=["ES384"])
    assert token.header["kid"] == new.thumbprint()


def test_jwk_set_keeps_its_kids_and_file_order_decides_the_signer(tmp_path):
    first, second = RSAKey.generate_key(2048), RSAKey.generate_key(3072)
    keys = [first.as_dict(private=True, kid="2026-01"), second.as_dict(private=True, kid="2025-06")]
    ring = load_key_ring(write(tmp_path, {"keys": keys}))
    assert [k["kid"] for k in ring.public_jwks()["keys"]] == ["2026-01", "2025-06"]
    assert ring.signing_key.kid == "2025-06", "the last key in the file, whatever its kid says"


def test_key_id_setting_names_a_pem_key(tmp_path):
    key = RSAKey.generate_key(2048)
    ring = load_key_ring(write(tmp_path, key.as_pem(private=True)), key_id="neuroscreen-2026")
    assert ring.public_jwks()["keys"][0]["kid"] == "neuroscreen-2026"
    header = jwt.decode(ring.client_assertion("c", "u"), key, algorithms=["RS384"]).header
    assert header["kid"] == "neuroscreen-2026"


def test_single_jwk_is_accepted(tmp_path):
    key = ECKey.generate_key("P-384")
    ring = load_key_ring(write(tmp_path, key.as_dict(private=True)))
    assert ring.signing_key.alg == "ES384"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (lambda: ECKey.generate_key("P-256").as_pem(private=True), "ES384"),
        (lambda: RSAKey.generate_key(1024).as_pem(private=True), "2048"),
        (lambda: {"keys": [OctKey.generate_key(256).as_dict()]}, "RS384"),
        (lambda: RSAKey.generate_key(2048).as_dict(private=False), "private"),
        (lambda: {**RSAKey.generate_key(2048).as_dict(private=True), "alg": "RS256"}, "RS384"),
        (lambda: b"not a key", "no private key"),
        (lambda: b"{broken json", "JSON"),
    ],
    ids=["ec-p256", "rsa-1024", "oct", "public-only", "rs256", "garbage", "bad-json"],
)
def test_unusable_key_files_are_refused_with_a_reason(tmp_path, content, reason):
    path = write(tmp_path, content())
    with pytest.raises(KeyFileError, match=reason) as caught:
        load_key_ring(path)
    assert str(path) in str(caught.value)


def test_missing_key_file_is_refused(tmp_path):
    with pytest.raises(KeyFileError, match="cannot read"):
        load_key_ring(tmp_path / "absent.pem")


def notify_app(monkeypatch: pytest.MonkeyPatch, **settings: object) -> TestClient:
    from notify.app import create_app

    return TestClient(create_app(Settings(notify_tokens=("admin",), **settings)))


def test_jwks_is_served_without_auth_and_without_private_members(tmp_path, monkeypatch):
    old, new = RSAKey.generate_key(2048), ECKey.generate_key("P-384")
    public = write(tmp_path, old.as_pem(private=False) + new.as_pem(private=False), "public.pem")
    client = notify_app(monkeypatch, ehr_public_keys_file=public)
    answer = client.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    keys = answer.json()["keys"]
    assert {k["kid"] for k in keys} == {old.thumbprint(), new.thumbprint()}
    for key in keys:
        assert not PRIVATE_MEMBERS & set(key), f"private member published in {key['kid']}"
    assert client.get("/admin/dead-letters").status_code == 401, "only the JWKS is public"


def test_jwks_is_empty_without_a_key(monkeypatch):
    client = notify_app(monkeypatch, ehr_base_url="https://ehr.example/fhir", ehr_token="t")
    assert client.get("/.well-known/jwks.json").json() == {"keys": []}


def test_notify_api_refuses_to_start_with_an_unusable_key(tmp_path, monkeypatch):
    path = write(tmp_path, ECKey.generate_key("P-256").as_pem(private=False))
    with pytest.raises(KeyFileError):
        notify_app(monkeypatch, ehr_public_keys_file=path)


def test_auth_defaults_to_static_with_a_token_and_none_without():
    assert Settings(ehr_token="t").ehr_auth == "static"
    assert Settings().ehr_auth == "none"
    assert Settings(ehr_token="").ehr_auth == "none"


def test_a_process_without_the_ehr_url_needs_no_ehr_credentials(tmp_path):
    # The notify API publishes the public keys only: it needs no EHR settings.
    settings = Settings(ehr_auth="private-key-jwt", ehr_private_key_file=tmp_path / "key.pem")
    assert settings.ehr_auth == "private-key-jwt"
    assert Settings(ehr_scopes="").ehr_scopes == Settings().ehr_scopes


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ehr_auth": "private-key-jwt", **EHR}, "NEUROSCREEN_EHR_PRIVATE_KEY_FILE"),
        (
            {"ehr_auth": "client-secret-basic", "ehr_client_id": "x", **EHR},
            "NEUROSCREEN_EHR_CLIENT_SECRET",
        ),
        ({"ehr_auth": "static", **EHR}, "NEUROSCREEN_EHR_TOKEN"),
        (
            {
                "ehr_auth": "private-key-jwt",
                "ehr_client_id": "x",
                "ehr_private_key_file": "k",
                "ehr_token": "left-over",
            },
            "NEUROSCREEN_EHR_TOKEN is not used",
        ),
        ({"ehr_auth": "oauth"}, "ehr_auth"),
        ({"ehr_scopes": "system/Task.write patient/*.read"}, "patient/"),
        ({"ehr_scopes": "system/Task.xr"}, "system/Task.xr"),
        ({"ehr_token_url": "ehr.example/token"}, "absolute"),
    ],
)
def test_inconsistent_auth_settings_fail_at_start_up(settings, message):
    with pytest.raises(ValidationError, match=message) as caught:
        Settings(**settings)
    assert "left-over" not in str(caught.value), "a secret in a start-up error"


def test_default_scopes_ask_for_no_wildcard_update_or_delete():
    # That they suffice is shown end to end: the strict test EHR checks every interaction.
    for scope in Settings().ehr_scopes.split():
        resource, _, permissions = scope.removeprefix("system/").partition(".")
        assert resource != "*" and permissions not in ("*", "write", "read"), scope
        assert not set(permissions) & {"u", "d"}, scope
