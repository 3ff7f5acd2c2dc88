"""schemathesis over Rondo's own /api/v2/openapi.json against a live server: no request makes a 5xx.

Driven through hypothesis directly (schemathesis' pytest plugin does not run on pytest 9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.engine.harness import InProcessServer


def test_no_request_makes_a_server_error(tmp_path: Path) -> None:
    with InProcessServer(tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'rondo.db'}") as live:
        schema = schemathesis.openapi.from_url(live.url + "/api/v2/openapi.json")
        operations = [op.ok() for op in schema.get_all_operations()]
        assert len(operations) > 20, "the schema describes what is served"
        failures: list[str] = []
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                case.call_and_validate(headers={"Circle-Token": live.admin_token}, checks=[not_a_server_error])

            try:
                check()
            except Exception as exc:  # collect every operation's failure, then report them together
                failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
        assert not failures, "\n\n".join(failures)
