"""XML values: recognising them for encoding and parsing them safely for decoding.

Parsing refuses any DOCTYPE, so no entity can be declared (no XXE, no
billion laughs) and nothing is ever fetched (no external DTD, no SSRF).
"""
from __future__ import annotations

import xml.dom.minidom
import xml.etree.ElementTree as ElementTree
from xml.parsers import expat

XML_TYPES = ("minidom", "etree", "refuse")


class XmlRefused(ValueError):
    """The XML text declares a DOCTYPE or entities (or is not well-formed: ``XmlMalformed``)."""


class XmlMalformed(XmlRefused):
    """The XML text is not well-formed."""


def is_xml(value: object) -> bool:
    return isinstance(value, ElementTree.Element) or (
        hasattr(value, "toxml") and hasattr(value, "toprettyxml"))


def xml_to_string(value: object) -> str:
    if isinstance(value, ElementTree.Element):
        return ElementTree.tostring(value, encoding="unicode")
    return value.toxml()


def _refuse_doctype(*args: object) -> None:
    raise XmlRefused("XML with a DOCTYPE or entity declarations is refused")


def _check(text: str) -> None:
    # With namespaces on, as the DOM builders parse: unbound prefixes are errors here too.
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.ExternalEntityRefHandler = _refuse_doctype
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise XmlMalformed(f"malformed XML: {exc}") from None


def parse_xml(text: str, xml_type: str):
    """Parse ``text`` into a minidom Document (``xml_type`` "minidom") or an Element ("etree")."""
    _check(text)
    try:
        if xml_type == "etree":
            return ElementTree.fromstring(text)
        return xml.dom.minidom.parseString(text)
    except (expat.ExpatError, ElementTree.ParseError) as exc:
        raise XmlMalformed(f"malformed XML: {exc}") from None
