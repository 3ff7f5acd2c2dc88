"""JUnit XML parsed safely into per-test rows; hostile XML and oversized files are refused."""

from __future__ import annotations

import pytest

from rondo.agent.steps.junit import JUnitError, parse

REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="app.tests" file="tests/test_app.py" time="1.5">
    <testcase classname="app.tests.TestLogin" name="test_ok" file="tests/test_login.py" time="0.25"/>
    <testcase classname="app.tests.TestLogin" name="test_bad" time="1,200.5">
      <failure message="assert 1 == 2">Traceback: boom</failure>
    </testcase>
    <testcase name="test_skip"><skipped message="not today"/></testcase>
    <testsuite name="nested"><testcase classname="n" name="e"><error message="crash"/></testcase></testsuite>
  </testsuite>
</testsuites>
"""


def test_cases_results_times_and_messages() -> None:
    rows = parse(REPORT, source="pytest")
    assert [(r["classname"], r["name"], r["result"]) for r in rows] == [
        ("app.tests.TestLogin", "test_ok", "success"),
        ("app.tests.TestLogin", "test_bad", "failure"),
        ("app.tests", "test_skip", "skipped"),
        ("n", "e", "error"),
    ]
    assert rows[0]["file"] == "tests/test_login.py" and rows[1]["file"] == "tests/test_app.py"
    assert rows[0]["run_time"] == 0.25 and rows[1]["run_time"] == 1200.5
    assert rows[1]["message"] == "assert 1 == 2\nTraceback: boom"
    assert rows[2]["message"] == "not today" and rows[3]["message"] == "crash"
    assert {r["source"] for r in rows} == {"pytest"}


def test_a_lone_testsuite_is_read_too() -> None:
    rows = parse(b'<testsuite name="s"><testcase name="t" time="x"/></testsuite>')
    assert rows == [
        {"classname": "s", "name": "t", "file": None, "result": "success", "run_time": 0.0, "message": "",
         "source": ""}
    ]  # fmt: skip


@pytest.mark.parametrize(
    "xml",
    [
        # external entity (XXE): would read a file of the agent
        b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><testsuite>&x;</testsuite>',
        # billion laughs: exponential entity expansion
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><testsuite name="&c;"/>',
    ],
)
def test_hostile_xml_is_refused(xml: bytes) -> None:
    with pytest.raises(JUnitError, match="refused for safety"):
        parse(xml)


def test_oversized_broken_and_foreign_files_are_refused() -> None:
    with pytest.raises(JUnitError, match="over the 100 bytes"):
        parse(b"<testsuite>" + b" " * 200 + b"</testsuite>", max_bytes=100)
    with pytest.raises(JUnitError, match="not well-formed"):
        parse(b"<testsuite><testcase></testsuite>")
    with pytest.raises(JUnitError, match="<html>"):
        parse(b"<html/>")
