"""Why a token is not trusted (see :mod:`shared.trust` for the hierarchy)."""

from __future__ import annotations


class UntrustedToken(Exception):
    """A JWT that must be refused; the message names the failed check, never a claim value."""


class UnknownKey(UntrustedToken):
    pass


class AmbiguousKey(UntrustedToken):
    pass


class KeysUnavailable(UntrustedToken):
    pass
