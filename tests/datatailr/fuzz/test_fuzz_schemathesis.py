"""Schema-driven fuzzing of the Datatailr sandbox: every operation in its OpenAPI document gets
generated requests (valid and invalid), sent with a valid session. The server must never answer
5xx, and every error must carry the `{"error": ...}` envelope.

Counts are printed at the end of the module (and written to $PLATFORGE_FUZZ_REPORT if set) so
that the README can quote how many requests were tried and how many errors were found.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from platforge.provider.datatailr.sandbox.app import create_app
from platforge.provider.datatailr.sandbox.auth import COOKIE_NAME
from platforge.provider.datatailr.sandbox.config import SandboxConfig

pytestmark = pytest.mark.fuzz

MAX_EXAMPLES = int(os.environ.get("PLATFORGE_FUZZ_EXAMPLES", "25"))

_DB = Path(tempfile.mkdtemp(prefix="platforge-fuzz-")) / "sandbox.db"
APP = create_app(SandboxConfig(db_path=str(_DB), admin_password=secrets.token_urlsafe(16)))
# A fresh session per case: `POST /logout` and `POST /api/user/logout` end the session they are
# sent with, and a shared token would leave every later case a 401.
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

TALLY: Counter[str] = Counter()
FAILURES: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    summary = {
        "requests": TALLY["requests"],
        "operations": TALLY["operations"],
        "server_errors": TALLY["server_errors"],
        "envelope_errors": TALLY["envelope_errors"],
        "client_errors_4xx": TALLY["4xx"],
        "successes_2xx": TALLY["2xx"],
    }
    print("\nschemathesis fuzz summary:", json.dumps(summary))
    target = os.environ.get("PLATFORGE_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_error_envelope(case):
    TALLY["operations_examples"] += 1
    response = case.call(headers={"Cookie": f"{COOKIE_NAME}={APP.state.sessions.issue('admin')}"})
    TALLY["requests"] += 1
    status = response.status_code
    if status >= 500:
        TALLY["server_errors"] += 1
        FAILURES.append(f"{case.method} {case.path} -> {status}: {response.text[:200]}")
    assert status < 500, f"{case.method} {case.formatted_path} answered {status}: {response.text[:300]}"
    if status >= 400:
        TALLY["4xx"] += 1
        try:
            body = response.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]):
            TALLY["envelope_errors"] += 1
        assert isinstance(body, dict) and body.get("error"), f"no error envelope: {response.text[:300]}"
    else:
        TALLY["2xx"] += 1
        body = response.json()
        assert isinstance(body, dict) and "result" in body, f"no result envelope: {response.text[:300]}"


def test_operations_were_fuzzed():
    """Guard against an empty schema silently fuzzing nothing."""
    operations = list(schema.get_all_operations())
    TALLY["operations"] = len(operations)
    assert len(operations) >= 40, f"only {len(operations)} operations in the OpenAPI document"
