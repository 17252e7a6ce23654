"""`manage.py simulators` serves the outside systems as URLs for separately started processes
(the Procfile set in `scripts/dev.py prod-check`) and writes the variables that point at them."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from io import StringIO

import httpx
import pika
import pytest
from django.core.management import call_command

from tests.feeds.helpers import rabbitmq_available

AMQP_URL = os.environ.get("TOUCHLINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not rabbitmq_available(), reason="needs the local RabbitMQ on 127.0.0.1:5672"),
]


def test_simulators_serve_every_outside_system_and_stop_on_sigint(tmp_path):
    env_file = tmp_path / "simulators.env"
    seen: dict[str, object] = {}

    def probe_then_interrupt() -> None:
        try:
            deadline = time.monotonic() + 60
            while not env_file.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
            seen["env"] = env
            with httpx.Client(timeout=5) as http:
                seen["igpx"] = http.post(
                    env["IGPX_API_URL"] + "/v1/auth",
                    json={"username": env["IGPX_USERNAME"], "password": env["IGPX_PASSWORD"]},
                ).json()
                seen["uof"] = http.get(
                    env["UOF_API_URL"] + "/descriptions/producers.xml",
                    headers={"x-access-token": env["UOF_ACCESS_TOKEN"]},
                ).status_code
                seen["fasttrack"] = http.post(
                    env["FASTTRACK_API_URL"] + "/v1/integration/sports", json={}, headers={"X-Api-Key": "wrong"}
                ).status_code
            # The feed is published to RabbitMQ: a queue bound to the exchange receives messages.
            connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
            channel = connection.channel()
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(queue, "unifiedfeed", "#")
            body = None
            while body is None and time.monotonic() < deadline:
                body = channel.basic_get(queue, auto_ack=True)[2]
                connection.sleep(0.1)
            seen["feed"] = body
            connection.close()
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=probe_then_interrupt, daemon=True).start()
    out = StringIO()
    call_command("simulators", amqp_url=AMQP_URL, env_file=str(env_file), feed_rate=20.0, stdout=out)

    env = seen["env"]
    for name in (
        "IGPX_API_URL",
        "UOF_AMQP_URL",
        "UOF_API_URL",
        "PROPHETX_API_URL",
        "PROPHETX_WS_URL",
        "FASTTRACK_API_URL",
    ):
        assert env[name].split(":")[0] in ("http", "ws", "amqp"), (name, env[name])
    assert env["FASTTRACK_TRANSPORT"] == "rest"
    assert "token" in seen["igpx"], json.dumps(seen["igpx"])
    assert seen["uof"] == 200
    assert seen["fasttrack"] in (401, 403)  # it checks the key, as Fast Track does
    assert seen["feed"] and b"product=" in seen["feed"]
    assert "simulators: stopped" in out.getvalue()
