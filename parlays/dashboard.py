"""The parlay book's figures on the back-office live dashboard."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from config.dashboard import Metric
from parlays import conf
from parlays.models import ExposureLimit, ExposureReservation, ListenerState, QuoteRequest
from parlays.services.exposure import limit_for
from wallet.money import format_money


def metrics() -> list[Metric]:
    now = timezone.now()
    minute = QuoteRequest.objects.filter(received_at__gte=now - timedelta(minutes=1)).aggregate(
        quoted=Count("id", filter=Q(status=QuoteRequest.Status.QUOTED)),
        declined=Count("id", filter=Q(status=QuoteRequest.Status.DECLINED)),
    )
    exposure = ExposureReservation.objects.filter(
        state=ExposureReservation.State.RESERVED, scope=ExposureReservation.Scope.TOTAL
    ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
    settings = conf.get()
    limit = limit_for(ExposureReservation.Scope.TOTAL, settings)  # Risk's row, else the environment's
    used = exposure / limit if limit else Decimal(0)
    limit_rows = ExposureLimit.objects.filter(currency=settings.currency).count()
    quotes = reverse("admin:parlays_quoterequest_changelist")
    listener = ListenerState.objects.order_by("-updated_at").first()
    if listener is None:
        socket = Metric("listener", "ProphetX listener", "never started", status="warn")
    else:
        socket = Metric(
            "listener",
            "ProphetX listener",
            "connected" if listener.connected else "down",
            status="ok" if listener.connected else "bad",
            url=reverse("admin:parlays_listenerstate_changelist"),
        )
    return [
        Metric("quotes_per_min", "quotes / minute", minute["quoted"], trend=True, url=quotes),
        Metric(
            "declines_per_min",
            "declines / minute",
            minute["declined"],
            trend=True,
            url=f"{quotes}?status__exact=declined",
        ),
        Metric(
            "open_exposure",
            "open exposure",
            str(exposure.quantize(Decimal("0.01"))),
            status="ok" if used < Decimal("0.8") else ("warn" if used < 1 else "bad"),
            trend=True,
            display=f"{format_money(exposure, settings.currency)} of {format_money(limit, settings.currency)}",
            url=reverse("admin:parlays_exposurereservation_changelist") + "?state__exact=reserved",
        ),
        Metric(
            "exposure_limits",
            "exposure limits",
            limit_rows,
            display=f"{limit_rows} set by Risk" if limit_rows else "environment defaults",
            url=reverse("admin:parlays_exposurelimit_changelist"),
        ),
        socket,
    ]
