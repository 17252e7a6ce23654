"""Operational endpoints: /healthz (alive), /readyz (dependencies), /metrics (Prometheus)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlparse

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

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


_collector_registered = False


def metrics(request: HttpRequest) -> HttpResponse:
    global _collector_registered
    if not _collector_registered:
        REGISTRY.register(LedgerCollector())
        _collector_registered = True
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
