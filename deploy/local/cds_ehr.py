"""A local EHR for trying CDS Hooks under ``make run``: signs each call as an EHR would.

    .venv/bin/python deploy/local/cds_ehr.py register         # once: a key, trusted by the intake
    .venv/bin/python deploy/local/cds_ehr.py discovery
    .venv/bin/python deploy/local/cds_ehr.py patient-view example   # the card for Patient/example

``register`` makes an ES384 key pair (``<data dir>/cds-ehr/key.json``, private,
never leaves this machine) and adds its public key inline to the issuers file
that ``make run`` hands the intake (``<data dir>/cds-issuers.yaml``). The intake
re-reads that file when it changes, so no restart. Every call then carries a
fresh JWT (CDS Hooks 2.0, "Trusting CDS Clients"): ``iss`` the issuer below,
``aud`` exactly the URL called, ``iat``/``exp`` now and five minutes on, a new
``jti``, and the key's ``kid`` in the header.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml
from joserfc import jwt
from joserfc.jwk import ECKey

ISSUER = "urn:neuroscreen:local-ehr"
SERVICE_ID = "immune-neuropathy-screen"


def data_dir() -> Path:
    return Path(os.environ.get("NEUROSCREEN_DATA_DIR", "var"))


def issuers_file() -> Path:
    configured = os.environ.get("NEUROSCREEN_CDS_ISSUERS_FILE")
    return Path(configured) if configured else data_dir() / "cds-issuers.yaml"


def key_file() -> Path:
    return data_dir() / "cds-ehr" / "key.json"


def register(_arguments: argparse.Namespace) -> int:
    path = key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ECKey.generate_key("P-384", private=True, auto_kid=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(key.as_dict(private=True)))
    public = _key().as_dict(private=False)
    issuers = issuers_file()
    entries = (yaml.safe_load(issuers.read_text()) if issuers.exists() else None) or []
    entries = [entry for entry in entries if entry.get("iss") != ISSUER]
    entries.append({"iss": ISSUER, "jwks": {"keys": [public]}})
    issuers.parent.mkdir(parents=True, exist_ok=True)
    issuers.write_text(yaml.safe_dump(entries, sort_keys=False))
    print(f"registered {ISSUER} (kid {public['kid']}) in {issuers}")
    return 0


def discovery(arguments: argparse.Namespace) -> int:
    url = f"{arguments.base}/cds-services"
    return _show(httpx.get(url, headers=_bearer(url), timeout=30))


def patient_view(arguments: argparse.Namespace) -> int:
    url = f"{arguments.base}/cds-services/{SERVICE_ID}"
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/local-clinician", "patientId": arguments.patient_id},
    }
    return _show(httpx.post(url, json=body, headers=_bearer(url), timeout=30))


def _key() -> ECKey:
    try:
        return ECKey.import_key(json.loads(key_file().read_text()))
    except FileNotFoundError:
        raise SystemExit(f"no key at {key_file()}: run `{sys.argv[0]} register` first") from None


def _bearer(audience: str) -> dict[str, str]:
    key, now = _key(), int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "local-ehr",
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode({"alg": "ES384", "kid": key.kid}, claims, key, algorithms=["ES384"])
    return {"Authorization": f"Bearer {token}"}


def _show(reply: httpx.Response) -> int:
    body: Any = reply.json() if reply.content else None
    print(json.dumps(body, indent=2) if body is not None else f"HTTP {reply.status_code}")
    return 0 if reply.is_success else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cds_ehr.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base",
        default=os.environ.get("NEUROSCREEN_CDS_BASE", "http://127.0.0.1:8000"),
        help="the intake's root URL, without /fhir (env NEUROSCREEN_CDS_BASE)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("register", help="make a key and trust it").set_defaults(run=register)
    commands.add_parser("discovery", help="GET /cds-services").set_defaults(run=discovery)
    view = commands.add_parser("patient-view", help="the card for one patient")
    view.add_argument("patient_id", help="the id of the Patient (the response's subject)")
    view.set_defaults(run=patient_view)
    arguments = parser.parse_args(argv)
    arguments.base = arguments.base.rstrip("/").removesuffix("/fhir")
    return arguments.run(arguments)


if __name__ == "__main__":
    sys.exit(main())
