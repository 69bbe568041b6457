"""Parsing XML written by untrusted code: no DOCTYPE, hence no entity expansion or external
entities, whatever the document's encoding.

The refusal happens inside the parser (defusedxml, DTDs forbidden), not by scanning bytes: a
byte pattern for `<!DOCTYPE` never matches a UTF-16 or UTF-32 document, which the parser
decodes and would otherwise expand.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

MAX_REPORT_BYTES = 64 * 1024 * 1024


class UnsafeReport(ValueError):
    """A report file that is too large, declares a DOCTYPE/entities, or is not well-formed."""


def parse_untrusted_bytes(data: bytes, source: str) -> ET.Element:
    """The root element of the XML document `data`; `source` names it in errors.

    Comments are kept as `ET.Comment` elements: some runners (node's junit reporter) write
    their own totals there.
    """
    if len(data) > MAX_REPORT_BYTES:
        raise UnsafeReport(f"{source}: {len(data)} bytes is over the {MAX_REPORT_BYTES} byte limit")
    parser = DefusedXMLParser(
        target=ET.TreeBuilder(insert_comments=True),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
    except DefusedXmlException as exc:
        raise UnsafeReport(
            f"{source}: declares a DOCTYPE or entities, refused as untrusted XML ({exc!r})"
        ) from None
    except ET.ParseError as exc:
        raise UnsafeReport(f"{source}: not well-formed XML ({exc})") from None
    return root


def parse_untrusted_xml(path: Path) -> ET.Element:
    """The root element of `path`; raises UnsafeReport naming the file and the reason."""
    size = path.stat().st_size
    if size > MAX_REPORT_BYTES:
        raise UnsafeReport(f"{path}: {size} bytes is over the {MAX_REPORT_BYTES} byte limit")
    return parse_untrusted_bytes(path.read_bytes(), str(path))
