"""Pipeline parameters on triggers keep CircleCI's limits and types; the errors say which limit."""

from __future__ import annotations

import pytest

from tests.server.conftest import Clients


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({f"p{i}": i for i in range(101)}, "at most 100 pipeline parameters"),
        ({"x" * 129: 1}, "longer than 128 characters"),
        ({"p": "v" * 513}, "longer than 512 characters"),
        ({"p": {"nested": 1}}, "parameters"),
    ],
)
async def test_parameter_limits(clients: Clients, parameters: dict[str, object], expected: str) -> None:
    resp = await clients.admin.post("/api/v2/project/gh/acme/none/pipeline", json={"branch": "main",
                                                                                 "parameters": parameters})  # fmt: skip
    assert resp.status_code == 400, resp.text
    assert expected in resp.json()["message"]
