"""Trusting signed JWTs: the machinery every NeuroScreen service verifies tokens with.

The intake verifies SMART client assertions (and, next, CDS Hooks JWTs) signed
by an EHR; notify verifies access tokens the intake issued. Both use:

- :mod:`shared.trust.algorithms`: the one allow-list of JWS algorithms;
- :mod:`shared.trust.jwks`: key sets, inline or fetched from a ``jwks_uri``;
- :mod:`shared.trust.replay`: ``jti`` replay stores (Redis or the database);
- :mod:`shared.trust.scopes`: SMART v1/v2 scope parsing and checks;
- :mod:`shared.trust.access_tokens`: RFC 9068 access tokens issued by the intake.

Exception hierarchy::

    UntrustedToken            the JWT must not be trusted (reason is safe to log: no PHI)
    ├── UnknownKey            no key with the token's ``kid``
    ├── AmbiguousKey          two keys share the token's ``kid``
    └── KeysUnavailable       no key set could be fetched, and none was kept
"""

from shared.trust.errors import AmbiguousKey, KeysUnavailable, UnknownKey, UntrustedToken

__all__ = ["AmbiguousKey", "KeysUnavailable", "UnknownKey", "UntrustedToken"]
