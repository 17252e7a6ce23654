"""The operator API answers what its OpenAPI schema says (schemathesis, in-process over WSGI).

Every operation of /api/operator/ gets generated requests (valid and invalid) with a key that
has every scope; each answer must be a documented status with a body matching its schema, and
never a server error. Bounded: a few dozen examples per operation, about a minute in all.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apikeys.models import SCOPES
from tests.factories import make_api_key, make_player

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler()).include(path_regex=r"^/api/operator/")


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Django closes the connection at the end of each request; the test's transaction lives on
    it (Django's own test client disconnects the same handlers)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def key(db) -> str:
    # A known player, so generated paths can reach past the 404 (schemathesis also tries "alice").
    make_player("alice", currencies=("EUR", "USD"))
    return make_api_key(scopes=tuple(SCOPES))[1]


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_operator_api_matches_its_schema(case, key):
    # Random ids only ever reach the 404: send half of the cases to the known player instead.
    if "external_id" in (case.path_parameters or {}) and len(str(case.path_parameters["external_id"])) % 2:
        case.path_parameters["external_id"] = "alice"
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_without_a_key_every_operation_answers_a_documented_401(case):
    response = case.call_and_validate(checks=CHECKS)
    assert response.status_code == 401
