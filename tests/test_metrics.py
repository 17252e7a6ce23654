"""/metrics serves the sum over every process of a host when PROMETHEUS_MULTIPROC_DIR is set:
the callback server's workers, the web workers and the processes with no HTTP at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import django
django.setup()
from config.ops import HTTP_LATENCY, HTTP_REQUESTS
from feeds.consumer import MESSAGES
HTTP_REQUESTS.labels("api/igpx/transaction", "200").inc(3)
HTTP_LATENCY.labels("api/igpx/transaction").observe(0.004)
MESSAGES.labels("applied").inc(2)
"""

SCRAPE = """
import django
django.setup()
from config.ops import exposition
print(exposition().decode())
"""


def run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_scrape_sums_the_counters_of_every_process_including_ones_that_exited(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    run(WORKER, env)  # a callback worker, now gone
    run(WORKER, env)  # another one
    page = run(SCRAPE, env)  # the process the scrape landed on wrote nothing itself
    assert 'touchline_http_requests_total{route="api/igpx/transaction",status="200"} 6.0' in page
    assert 'touchline_http_request_seconds_count{route="api/igpx/transaction"} 2.0' in page
    assert 'touchline_http_request_seconds_bucket{le="0.005",route="api/igpx/transaction"} 2.0' in page
    assert 'touchline_uof_messages_total{outcome="applied"} 4.0' in page  # from a process without HTTP


def test_without_the_directory_a_scrape_shows_this_process(client, monkeypatch):
    from config.ops import HTTP_REQUESTS

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    HTTP_REQUESTS.labels("test/own", "200").inc()
    page = client.get("/metrics").content.decode()
    assert 'touchline_http_requests_total{route="test/own",status="200"}' in page


def test_a_missing_directory_is_refused_at_start_up_by_name(tmp_path):
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "nope"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR" in done.stderr and "not a writable directory" in done.stderr
    assert ImproperlyConfigured.__name__ in done.stderr
