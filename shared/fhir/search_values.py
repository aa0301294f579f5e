"""Values NeuroScreen puts into the FHIR searches it sends: escaped, then URL-encoded.

FHIR R4 search (http://hl7.org/fhir/R4/search.html#escaping) gives four characters a
meaning inside a parameter value: ``,`` separates OR-ed values, ``|`` separates a
token's system from its code, ``$`` separates composite parts, and ``\\`` escapes the
other three. An identifier the EHR's own client chose, such as
``x,VICTIM&patient=Patient/other``, must match itself only: its ``,`` and ``|`` are
escaped here, and its ``&`` and ``=`` are URL-encoded, so it can neither add an OR
branch nor a criterion to a conditional create (issue 18, item 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

_SPECIAL = str.maketrans({"\\": "\\\\", ",": "\\,", "|": "\\|", "$": "\\$"})


def escape(value: str) -> str:
    """``value`` as one literal search value: ``\\``, ``,``, ``|`` and ``$`` escaped."""
    return value.translate(_SPECIAL)


def token(system: str | None, code: str) -> str:
    """A token search value ``system|code``, each part escaped (no system: ``|code``
    would mean "no system", so the bare code is sent, matching any system)."""
    if system is None:
        return escape(code)
    return f"{escape(system)}|{escape(code)}"


_KEPT = ":/|,$"
"""Left as they are (legal in a query, and readable in an EHR's logs): the FHIR meaning
of ``|``, ``,`` and ``$`` is already settled by :func:`escape`. ``&``, ``=``, ``#``,
``+``, ``%``, ``\\``, spaces and non-ASCII are percent-encoded."""


def query(params: Mapping[str, str]) -> str:
    """A query string (``ifNoneExist``) of :func:`escape`-d values, URL-encoded."""
    return "&".join(
        f"{quote(name, safe='')}={quote(value, safe=_KEPT)}" for name, value in params.items()
    )
