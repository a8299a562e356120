"""Schemathesis against the app's own OpenAPI schema: no generated request, valid or not, gets a 5xx."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from voxgate.api import create_app
from voxgate.settings import Settings


def _config(max_examples: int) -> schemathesis.Config:
    """Fixed seed, deterministic generation, no example database: every run sends the same requests."""
    return schemathesis.Config.from_dict(
        {
            "seed": 20251124,
            "generation": {
                "mode": "all",  # valid and invalid requests
                "deterministic": True,
                "max-examples": max_examples,
                "database": "none",
            },
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        }
    )


# The schema is the app's own; building an app (without starting it) renders it.
OPENAPI = create_app(Settings.load()).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI, config=_config(25))
deep_schema = schemathesis.openapi.from_dict(OPENAPI, config=_config(300))


@pytest.fixture(scope="module")
def server(make_server: Callable[[Settings], str], api_settings: Callable[..., Settings]) -> str:
    """One real server for every operation (schemathesis' own ASGI transport restarts the app per test).

    Texts are capped at 300 characters so that generated long texts are refused (413) rather
    than synthesised for seconds each.
    """
    return make_server(api_settings(text={"max_chars": 300}))


@schema.parametrize()
def test_no_generated_request_gets_a_server_error(server: str, case: schemathesis.Case) -> None:
    """Every operation, positive and negative cases: the answer is never a 5xx."""
    case.call_and_validate(base_url=server, checks=[not_a_server_error])


@pytest.mark.slow
@deep_schema.parametrize()
def test_no_deeply_generated_request_gets_a_server_error(server: str, case: schemathesis.Case) -> None:
    """The same with 300 examples per operation (run with -m slow)."""
    case.call_and_validate(base_url=server, checks=[not_a_server_error])
