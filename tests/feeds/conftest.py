"""Feed test fixtures: the fake UOF REST API and a client for it."""

from __future__ import annotations

import pytest

from feeds.protocol.client import UofClient
from feeds.simulator import FakeUofApi
from tests.feeds.helpers import TOKEN


@pytest.fixture
def fake_api():
    api = FakeUofApi(token=TOKEN)
    api.start()
    yield api
    api.stop()


@pytest.fixture
def uof_client(fake_api):
    with UofClient(fake_api.base_url, TOKEN, timeout=5) as c:
        yield c
