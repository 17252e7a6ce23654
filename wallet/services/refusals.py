"""Provider callbacks that a retry cannot fix, put in front of staff once (docs/CALLBACKS.md).

A provider retries a refused result, rollback, settle or unsettle until it succeeds. Where the
wallet refuses one for good (the request itself is wrong), the answer is the same on every
retry and staff get one open review item for it, not one per retry: the item is the record
that a human has to settle the money with the provider.
"""

from __future__ import annotations

import logging

from django.db import transaction

from config.logthrottle import Throttled
from wallet.models import ReviewItem
from wallet.services.reviews import review_flag

logger = logging.getLogger("touchline.wallet.refusals")
_throttled = Throttled(logger)


def flag_once(kind: str, summary: str, **links: object) -> None:
    """One open review item per (kind, summary): a retried refusal does not add another.

    Runs in its own transaction: the refusal's own transaction has rolled back.
    """
    # Provider text may hold what a database text column cannot (NUL, a lone surrogate).
    summary = summary.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()[:255]
    try:
        with transaction.atomic():
            if not ReviewItem.objects.filter(kind=kind, status=ReviewItem.Status.OPEN, summary=summary).exists():
                review_flag(kind=kind, summary=summary, **links)
    except Exception:
        # Flagging must never turn a deliberate refusal into an error the provider retries on.
        _throttled.error("flag", "could not flag a refused callback for staff: %s", summary, exc_info=True)


def refused(provider: str, operation: str, external_id: str, message: str) -> None:
    """A must-succeed callback refused for good: staff see it once per distinct refusal."""
    flag_once(
        ReviewItem.Kind.CALLBACK_REFUSED,
        f"{provider} {operation} {external_id or '?'} refused: {message}",
        provider=provider,
    )
