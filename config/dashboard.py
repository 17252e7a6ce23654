"""The back-office live dashboard: figures from every app, pushed to staff over Channels.

Each app registers a provider, a function returning a list of Metric, from its
AppConfig.ready(). `snapshot()` collects them; `broadcast()` (every 2 s from Celery beat or
the demo's scheduler) pushes the snapshot to every open dashboard through the channel layer
(in-memory by default, Redis when REDIS_URL is set, so several web workers all receive it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from config.logthrottle import Throttled

logger = logging.getLogger("touchline.dashboard")
_throttled = Throttled(logger, interval=60.0)
GROUP = "backoffice.dashboard"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    value: str | int | float
    unit: str = ""
    status: str = "ok"  # ok | warn | bad: how the card is coloured
    trend: bool = False  # draw a small chart of its recent values
    url: str = ""  # the list behind the figure: the card links there
    display: str = ""  # how a person reads the value (money through format_money); the chart uses value


Provider = Callable[[], list[Metric]]
_providers: dict[str, Provider] = {}


def register(section: str, provider: Provider) -> None:
    _providers[section] = provider


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot() -> dict:
    sections = []
    for section, provider in _providers.items():
        try:
            metrics = [{k: _plain(v) for k, v in asdict(m).items()} for m in provider()]
        except Exception as exc:  # one broken provider must not blank the whole dashboard
            # Beat broadcasts every 2 s: a database outage would write a traceback each time.
            _throttled.log(
                logging.ERROR, f"{section}:{type(exc).__name__}", "dashboard provider %s failed", section, exc_info=True
            )
            metrics = [asdict(Metric("error", "provider error", str(exc)[:120], status="bad"))]
        sections.append({"section": section, "metrics": metrics})
    return {"at": timezone.now().isoformat(), "sections": sections}


def broadcast() -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(GROUP, {"type": "dashboard.update", "snapshot": snapshot()})


@staff_member_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    from django.contrib import admin

    context = {**admin.site.each_context(request), "title": "Live dashboard", "initial": snapshot()}
    return TemplateResponse(request, "admin/dashboard.html", context)
