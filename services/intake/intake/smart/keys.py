"""The intake's own signing keys: the first signs access tokens, all of them verify.

Keys live in a private JWKS file (``NEUROSCREEN_SMART_SIGNING_KEYS_FILE``);
without one the intake generates an RSA key under the data directory on its
first start. Rotation (deploy/README.md): put the new key first and keep the
old one in the file for at least one token lifetime (5 minutes), so tokens
it signed keep working; then remove it. The file is re-read when it changes
(checked at most once a second) or on SIGHUP.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from joserfc.jwk import RSAKey

from shared.config import Settings
from shared.trust import UnknownKey
from shared.trust.jwks import VerificationKey, select_key

log = logging.getLogger("neuroscreen.intake.keys")
GENERATED_NAME = "intake-signing-keys.json"


class SigningKeys:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._checked = 0.0
        self._mtime = 0.0
        self._private: list[dict[str, Any]] = []
        self._cache: dict[str, VerificationKey] = {}
        self.reload()

    @classmethod
    def for_settings(cls, settings: Settings) -> SigningKeys:
        path = settings.smart_signing_keys_file
        if path is None:
            path = settings.data_dir / GENERATED_NAME
            _generate_once(path)
        return cls(path)

    @property
    def signing_key(self) -> RSAKey:
        self._maybe_reload()
        return RSAKey.import_key(self._private[0])

    def verification_key(self, kid: str) -> VerificationKey:
        self._maybe_reload()
        key = self._cache.get(kid)
        if key is None:
            key = select_key(self._private, kid)
            if key is None:
                raise UnknownKey("no intake key with this kid")
            self._cache[kid] = key
        return key

    def public_jwks(self) -> dict[str, Any]:
        self._maybe_reload()
        public = ("kty", "kid", "n", "e", "crv", "x", "y")
        keys = [{k: v for k, v in key.items() if k in public} for key in self._private]
        return {"keys": [{**key, "use": "sig", "alg": "RS384"} for key in keys]}

    def reload(self) -> None:
        document = orjson.loads(self.path.read_bytes())
        keys = document.get("keys") if isinstance(document, dict) else None
        if not keys or any(k.get("kty") != "RSA" or "d" not in k or not k.get("kid") for k in keys):
            raise ValueError(f"{self.path}: need a JWKS of private RSA keys, each with a kid")
        with self._lock:
            self._private = keys
            self._cache = {}
            self._mtime = self.path.stat().st_mtime
        log.info("signing keys loaded", extra={"kids": [k["kid"] for k in keys]})

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked < 1.0:
            return
        self._checked = now
        try:
            if self.path.stat().st_mtime != self._mtime:
                self.reload()
        except (OSError, ValueError) as error:
            # Keep signing with the keys we have; a half-written file must not stop the intake.
            log.warning("signing keys not reloaded", extra={"error": type(error).__name__})


def _generate_once(path: Path) -> None:
    """Write a new private key file unless one exists (workers racing: the first wins)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    key = RSAKey.generate_key(2048, private=True, auto_kid=True)
    body = orjson.dumps({"keys": [key.as_dict(private=True)]})
    # Written aside, then linked into place: another worker never reads half a file.
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(body)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
