"""Parsing XML written by untrusted code: no DOCTYPE, hence no entity expansion or external
entities."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

MAX_REPORT_BYTES = 64 * 1024 * 1024

_DANGEROUS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class UnsafeReport(ValueError):
    """A report file that is too large, declares a DOCTYPE/entities, or is not well-formed."""


def parse_untrusted_xml(path: Path) -> ET.Element:
    """The root element of `path`; raises UnsafeReport naming the file and the reason."""
    size = path.stat().st_size
    if size > MAX_REPORT_BYTES:
        raise UnsafeReport(f"{path}: {size} bytes is over the {MAX_REPORT_BYTES} byte limit")
    data = path.read_bytes()
    # Entities can only be declared inside a DOCTYPE; without one there is nothing to expand.
    if _DANGEROUS.search(data):
        raise UnsafeReport(f"{path}: declares a DOCTYPE or entities, refused as untrusted XML")
    try:
        return ET.fromstring(data)  # noqa: S314 - screened above
    except ET.ParseError as exc:
        raise UnsafeReport(f"{path}: not well-formed XML ({exc})") from None
