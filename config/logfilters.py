"""Logging filters for the whole process (settings.LOGGING)."""

from __future__ import annotations

import logging

from config.logthrottle import Throttled

_refusals = Throttled(logging.getLogger("touchline.http"), interval=60.0)


class OneLineRefusals(logging.Filter):
    """A 403 is a refusal working as intended: Django logs it with the exception's traceback,
    which buries real errors, and once per request. Write it as one line instead, at most once
    a minute per path, with the count of repeats (config.logthrottle)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) != 403:
            return True
        message = record.getMessage()
        _refusals.warning(message, "%s", message)
        return False
