"""JUnit XML into per-test results, parsed safely (defusedxml: no entities, no external resources).

Accepts `<testsuites>`, a lone `<testsuite>`, and nested suites; a test case's result is `failure`,
`error` or `skipped` when it has that child, else `success`. Files over `max_bytes` are refused
before parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_MESSAGE = 16 * 1024
MAX_NAME = 16 * 1024


class JUnitError(Exception):
    """A file that is not JUnit XML Rondo can read, with the reason."""


def _seconds(value: str | None) -> float:
    try:
        seconds = float((value or "0").replace(",", ""))
    except ValueError:
        return 0.0
    return seconds if seconds >= 0 and seconds == seconds else 0.0  # NaN != NaN


def _message(element: Element) -> str:
    parts = [element.get("message") or "", (element.text or "").strip()]
    text = "\n".join(p for p in parts if p)
    return text[:MAX_MESSAGE]


def _cases(element: Element, suite: Element | None) -> Iterator[tuple[Element, Element | None]]:
    for child in element:
        if child.tag == "testcase":
            yield child, suite
        elif child.tag in ("testsuite", "testsuites"):
            yield from _cases(child, child if child.tag == "testsuite" else suite)


def parse(data: bytes, source: str = "", max_bytes: int = MAX_FILE_BYTES) -> list[dict[str, Any]]:
    """The test cases of one JUnit XML document as {classname, name, file, result, run_time, message, source}."""
    if len(data) > max_bytes:
        raise JUnitError(f"it is {len(data)} bytes, over the {max_bytes} bytes a test results file may have")
    try:
        root = ElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise JUnitError(f"it uses XML features refused for safety ({type(exc).__name__})") from None
    except ElementTree.ParseError as exc:
        raise JUnitError(f"it is not well-formed XML ({exc})") from None
    if root.tag not in ("testsuites", "testsuite", "testcase"):
        raise JUnitError(f"its root element is <{root.tag}>, not <testsuites> or <testsuite>")
    found = [(root, None)] if root.tag == "testcase" else list(_cases(root, root if root.tag == "testsuite" else None))
    results = []
    for case, suite in found:
        result, message = "success", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                result, message = child.tag, _message(child)
                break
        classname = case.get("classname") or (suite.get("name") if suite is not None else "") or ""
        results.append(
            {
                "classname": classname[:MAX_NAME],
                "name": (case.get("name") or "")[:MAX_NAME],
                "file": (case.get("file") or (suite.get("file") if suite is not None else None) or "")[:4096] or None,
                "result": result,
                "run_time": _seconds(case.get("time")),
                "message": message,
                "source": source,
            }
        )
    return results
