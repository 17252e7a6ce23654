"""Shared fixtures. After every test that touched the database, the ledger invariants must hold."""

from __future__ import annotations

import pytest
from django.db import connection

from wallet.invariants import check_ledger
from wallet.ledger import clear_house_cache


def _uses_db(request: pytest.FixtureRequest) -> bool:
    names = set(request.fixturenames)
    return bool(names & {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}) or (
        request.node.get_closest_marker("django_db") is not None
    )


@pytest.fixture(autouse=True)
def ledger_invariants(request: pytest.FixtureRequest):
    """Fails any test that leaves the ledger inconsistent (entries, balances, precision…)."""
    clear_house_cache()
    if _uses_db(request):
        # Set the database up before this fixture yields, so it is torn down after our check
        # even when the test reaches the database only through another fixture.
        request.getfixturevalue("_django_db_helper")
    yield
    if _uses_db(request) and not request.node.get_closest_marker("no_ledger_check"):
        report = check_ledger()
        assert report.ok, "ledger invariants violated:\n" + "\n".join(
            f"{v.check}: {v.detail}" for v in report.violations
        )
    clear_house_cache()


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://…")


@pytest.fixture
def recorder(db, postgres_only):
    """The statements sent below Django (bench._capture, psycopg-level: PostgreSQL only);
    tests.statements.sent reads them."""
    from bench._capture import Recorder

    recorder = Recorder()
    recorder.install()
    try:
        yield recorder
    finally:
        recorder.uninstall()


def pytest_configure(config):
    config.addinivalue_line("markers", "no_ledger_check: the test corrupts the ledger on purpose")
