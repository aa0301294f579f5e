"""The FHIR R4 narrative rules (Narrative.div, invariants txt-1 and txt-2), as a check.

R4 §2.4.0 (Narrative): the div is XHTML in the XHTML namespace, uses only the
basic formatting elements and attributes listed there, has no scripts, forms,
event handlers or external references, and has some non-whitespace content.
Medplum's validator accepts any string here (its ``htmlChecks()`` is always
true), so NeuroScreen checks its own narratives against the rules themselves.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

XHTML = "http://www.w3.org/1999/xhtml"

ALLOWED_ELEMENTS = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "b",
        "big",
        "blockquote",
        "br",
        "caption",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "tt",
        "ul",
        "var",
    ]
)
"""R4 Narrative: "only the basic html formatting elements" (txt-1)."""

ALLOWED_ATTRIBUTES = frozenset(
    [
        "abbr",
        "accesskey",
        "align",
        "alt",
        "axis",
        "bgcolor",
        "border",
        "cellhalign",
        "cellpadding",
        "cellspacing",
        "cellvalign",
        "char",
        "charoff",
        "charset",
        "cite",
        "class",
        "colspan",
        "compact",
        "coords",
        "dir",
        "frame",
        "headers",
        "height",
        "href",
        "hreflang",
        "hspace",
        "id",
        "lang",
        "longdesc",
        "name",
        "nowrap",
        "rel",
        "rev",
        "rowspan",
        "rules",
        "scope",
        "shape",
        "span",
        "src",
        "start",
        "style",
        "summary",
        "tabindex",
        "title",
        "type",
        "valign",
        "value",
        "vspace",
        "width",
    ]
)
"""R4 Narrative: the attributes allowed on those elements (txt-1)."""

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class NarrativeError(ValueError):
    """A narrative div breaks the FHIR narrative rules."""


def check_narrative(div: str) -> None:
    """Raise :class:`NarrativeError` naming the first rule ``div`` breaks."""
    try:
        root = ET.fromstring(div)  # noqa: S314 -- our own output, no entities declared
    except ET.ParseError as error:
        raise NarrativeError(f"not well-formed XHTML: {error}") from None
    if root.tag != f"{{{XHTML}}}div":
        raise NarrativeError("the root must be a div in the XHTML namespace")
    for element in root.iter():
        namespace, _, name = element.tag.rpartition("}")
        if namespace != "{" + XHTML or name not in ALLOWED_ELEMENTS:
            raise NarrativeError(f"element {element.tag!r} is not allowed in a narrative")
        for attribute, value in element.attrib.items():
            if attribute != _XML_LANG and attribute not in ALLOWED_ATTRIBUTES:
                raise NarrativeError(f"attribute {attribute!r} is not allowed in a narrative")
            if attribute in ("href", "src") and not value.startswith("#"):
                raise NarrativeError(f"{name} {attribute} refers outside the resource")
            if attribute == "style" and "url(" in value.replace(" ", "").lower():
                raise NarrativeError(f"{name} style refers outside the resource")
    if not "".join(root.itertext()).strip():
        raise NarrativeError("the narrative has no text (txt-2)")
