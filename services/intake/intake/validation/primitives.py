"""FHIR R4 primitive types as cheap predicates, never looser than fhir.resources.

Each predicate answers "is this JSON value certainly a valid FHIR primitive
that fhir.resources 8.3.0 also accepts?". A ``False`` is not a verdict: the
fast path then hands the whole resource to fhir.resources, which decides and
explains. So every predicate may be *stricter* than the library (leap
seconds, 10+ fractional digits, ids over 64 characters, URIs with spaces,
numbers given as strings all fall back) but must never accept what the
library rejects. ``tests/intake/test_fast_path.py`` checks that property,
character by character for strings and codes.

Why the regexes look the way they do (library behaviour, 8.3.0):

- ``string`` is checked by pydantic-core's Rust regex ``[ \\r\\n\\t\\S]+`` with
  *search* semantics: a string passes if any character is a space, CR, LF,
  TAB or non-whitespace. Python's whitespace (``str.isspace``, also ``\\s``) is
  a superset of Rust's Unicode ``White_Space`` (it adds U+001C..U+001F), so a
  string that is not all Python whitespace has a character Rust's ``\\S``
  matches. All-whitespace strings, valid or not, fall back.
- ``code`` is ``^[^\\s]+(\\s[^\\s]+)*$`` in Rust, where ``$`` does not match
  before a trailing newline. Python's ``$`` does, so ``fullmatch`` is used and
  only a single ASCII space may separate words (the FHIR rule).
- ``uri``/``canonical``: the library's ``\\S*`` with search semantics accepts any
  string, even empty; we accept non-empty strings without whitespace.
- ``boolean``/``integer``: pydantic's lax mode accepts ``"true"``, ``1``,
  ``"5"``, ``5.0``; FHIR JSON does not, so only real JSON booleans and
  integers pass here (the rest falls back and the library decides).
- ``dateTime``/``instant``/``date``: the FHIR regex, then a calendar check;
  the library also runs the value through pydantic's datetime parser, which
  rejects e.g. 2023-02-29.

Every predicate takes an unused ``_depth`` so the fast path can call primitive
and complex checks alike, without a wrapper call per value.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_CODE = re.compile(r"[^\s]+(?: [^\s]+)*")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_URI = re.compile(r"\S+")
_YEAR = r"(?P<year>[0-9]{4})"
_MONTH = r"(?P<month>0[1-9]|1[0-2])"
_DAY = r"(?P<day>0[1-9]|[12][0-9]|3[01])"
# Seconds 00-59 only (a leap second falls back) and at most 9 fractional digits.
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_ZONE = r"(?:Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_DATE_TIME = re.compile(rf"{_YEAR}(?:-{_MONTH}(?:-{_DAY}(?:T{_TIME}{_ZONE})?)?)?")
_INSTANT = re.compile(rf"{_YEAR}-{_MONTH}-{_DAY}T{_TIME}{_ZONE}")
_DATE = re.compile(rf"{_YEAR}(?:-{_MONTH}(?:-{_DAY})?)?")


def is_string(value: Any, _depth: int = 0) -> bool:
    """FHIR ``string``: some character that is not Python whitespace (see the module doc).

    The fast path inlines this rule for speed; keep the two in step.
    """
    return type(value) is str and value != "" and not value.isspace()


def is_code(value: Any, _depth: int = 0) -> bool:
    return type(value) is str and _CODE.fullmatch(value) is not None


def is_id(value: Any, _depth: int = 0) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


def is_uri(value: Any, _depth: int = 0) -> bool:
    """FHIR ``uri`` and ``canonical`` (a canonical is a uri with an optional ``|version``)."""
    return type(value) is str and _URI.fullmatch(value) is not None


def is_boolean(value: Any, _depth: int = 0) -> bool:
    return type(value) is bool


def is_integer(value: Any, _depth: int = 0) -> bool:
    return type(value) is int and INT32_MIN <= value <= INT32_MAX


def is_date_time(value: Any, _depth: int = 0) -> bool:
    return type(value) is str and _calendar_ok(_DATE_TIME.fullmatch(value))


def is_instant(value: Any, _depth: int = 0) -> bool:
    return type(value) is str and _calendar_ok(_INSTANT.fullmatch(value))


def is_date(value: Any, _depth: int = 0) -> bool:
    return type(value) is str and _calendar_ok(_DATE.fullmatch(value))


def _calendar_ok(match: re.Match[str] | None) -> bool:
    """The matched date exists (year 0000 is not a FHIR year; February 30 is no day)."""
    if match is None:
        return False
    year, day = int(match["year"]), match["day"]
    if year == 0:
        return False
    if day is None:
        return True
    try:
        date(year, int(match["month"]), int(day))
    except ValueError:
        return False
    return True
