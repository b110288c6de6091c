"""The web API fuzzed from its own OpenAPI schema with schemathesis, on a loopback server: no 5xx, ever.

schemathesis generates requests for every operation of ``/openapi.json`` (valid and invalid
parameters, bodies and headers), sent with and without the token to uvicorn on 127.0.0.1;
every answer must be a non-server-error status.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from webmap_fixtures import TOKEN

pytestmark = pytest.mark.server


def fuzz(op, seen: dict[str, int]) -> None:  # noqa: ANN001
    """Send generated requests of one operation, without and with the token."""
    key = f"{op.method.upper()} {op.path}"

    @given(case=op.as_strategy())
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def check(case) -> None:  # noqa: ANN001
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            response = case.call(headers=headers, timeout=30)
            seen[key] = seen.get(key, 0) + 1
            assert response.status_code < 500, f"{key} -> {response.status_code}: {response.text[:300]}"

    check()


def test_no_server_error_for_any_generated_request(app) -> None:  # noqa: ANN001
    from glofwatch.webmap.server import ThreadedServer

    seen: dict[str, int] = {}
    with ThreadedServer(app) as server:
        assert server.host == "127.0.0.1"
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 8  # lakes, one lake, series, thumbs, alerts, CAP, scenes, predict, ack, ...
        for op in operations:
            fuzz(op, seen)
    print(f"fuzzed {len(operations)} operations with {sum(seen.values())} requests")
    assert sum(seen.values()) >= 2 * len(operations)
