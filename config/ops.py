"""Operational endpoints: /healthz (alive), /readyz (dependencies), /metrics (Prometheus).

Metrics come from every process, not just the one a scrape lands on. Production runs several
worker processes per server (6 callback workers, web workers) and processes with no HTTP at
all (the UOF consumer, the ProphetX listener, Celery). With `PROMETHEUS_MULTIPROC_DIR` set to
one directory for all of a host's processes (empty it before they start), each writes its
counters and histograms there and `/metrics` on any of them serves the sum. Without it (the
demo, tests), `/metrics` shows the serving process's own. The database gauges (ledger, CRM
outbox) are read at scrape time either way.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from urllib.parse import urlparse

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from config.logthrottle import Throttled

# A scraper with the wrong token retries every few seconds: one line per interval.
_refused = Throttled(logging.getLogger("touchline.ops"))

HTTP_REQUESTS = Counter("touchline_http_requests_total", "HTTP requests", ["route", "status"])
HTTP_LATENCY = Histogram(
    "touchline_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def metrics_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match else "unmatched"
        HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(route, str(response.status_code)).inc()
        return response

    return middleware


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/ (machines read those answers), Django's page elsewhere.

    The operator API's own errors are answered by its exception handler; this covers what
    fails before or around a view (middleware, a database that is down before the view runs)."""
    if request.path.startswith("/api/"):
        from wallet.api.errors import error_body

        return JsonResponse(error_body("internal_error", "Internal server error."), status=500)
    from django.views.defaults import server_error as html_server_error

    return html_server_error(request)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    cache.set("touchline:readyz", "1", 5)
    if cache.get("touchline:readyz") != "1":
        raise RuntimeError("cache did not return what was stored")


def _check_tcp(url: str) -> Callable[[], None]:
    def check() -> None:
        parsed = urlparse(url)
        default_port = {"redis": 6379, "rediss": 6380, "amqp": 5672, "amqps": 5671}.get(parsed.scheme, 80)
        with socket.create_connection((parsed.hostname or "localhost", parsed.port or default_port), timeout=2):
            pass

    return check


def dependency_checks() -> dict[str, Callable[[], None]]:
    checks: dict[str, Callable[[], None]] = {"database": _check_database, "cache": _check_cache}
    if settings.CELERY_BROKER_URL:
        checks["celery_broker"] = _check_tcp(settings.CELERY_BROKER_URL)
    if settings.REDIS_URL:
        checks["redis"] = _check_tcp(settings.REDIS_URL)
    if settings.UOF_AMQP_URL:
        checks["uof_amqp"] = _check_tcp(settings.UOF_AMQP_URL)
    if settings.FASTTRACK_TRANSPORT == "rabbitmq" and settings.FASTTRACK_AMQP_URL:
        checks["fasttrack_amqp"] = _check_tcp(settings.FASTTRACK_AMQP_URL)
    return checks


def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    ready = True
    for name, check in dependency_checks().items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # report every failure by name; this endpoint must not raise
            ready = False
            results[name] = f"error: {exc}"
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)


class LedgerCollector:
    """Gauges read from the database at scrape time (cheap aggregate queries)."""

    def collect(self):
        from wallet.models import Debt, IdempotencyConflict, Player

        try:
            players = Player.objects.count()
            debts = Debt.objects.filter(status=Debt.Status.OPEN).count()
            conflicts = IdempotencyConflict.objects.filter(resolved=False).count()
        except Exception:  # the database being down is /readyz's news, not a scrape failure
            return
        yield GaugeMetricFamily("touchline_players", "Players", value=players)
        yield GaugeMetricFamily("touchline_open_debts", "Open player debts awaiting staff", value=debts)
        yield GaugeMetricFamily(
            "touchline_idempotency_conflicts_open", "Unresolved idempotency conflicts", value=conflicts
        )


# Collectors that read the database at scrape time: one copy per host is enough, so they stay
# out of the per-process (multiprocess) values.
_database = CollectorRegistry()


def register_database_collector(collector: object) -> None:
    """Add a scrape-time collector (apps call this from ready(); a second call is ignored)."""
    try:
        _database.register(collector)
    except ValueError:  # its names are registered already (ready() ran twice)
        pass


register_database_collector(LedgerCollector())


def exposition() -> bytes:
    """The text /metrics serves (module docstring)."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        live = CollectorRegistry()
        MultiProcessCollector(live)
    else:
        live = REGISTRY
    return generate_latest(live) + generate_latest(_database)


def metrics_allowed(request: HttpRequest) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>` (compared in constant time) or a client address in
    METRICS_ALLOWED_IPS. With neither configured, only DEBUG or demo installs serve /metrics:
    it names players' counts, debts and conflicts."""
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS
    if token:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode()):
            return True
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in networks)
    return not (token or settings.PRODUCTION)


def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        address = request.META.get("REMOTE_ADDR", "?")
        _refused.warning(
            f"metrics:{address}",
            "/metrics refused for %s (no valid METRICS_TOKEN, not in METRICS_ALLOWED_IPS)",
            address,
        )
        response = HttpResponse("metrics: send Authorization: Bearer <METRICS_TOKEN>\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
