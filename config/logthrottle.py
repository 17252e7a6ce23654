"""One log line per cause per interval, with how many times it happened: no floods.

A broker that is down, a provider that keeps sending bad signatures, an address that is not on
the allow-list: each would otherwise write a line (or a traceback) per request. ``Throttled``
writes the first occurrence at once, then at most one line per ``interval`` seconds per cause,
saying how many occurrences it stands for. Process-local and thread-safe; nothing is lost from
the count, only repeated text.
"""

from __future__ import annotations

import logging
import threading
import time


class Throttled:
    def __init__(self, logger: logging.Logger, interval: float = 60.0, clock=time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, int]] = {}  # cause -> (last written, suppressed since)

    def log(self, level: int, cause: str, message: str, *args, exc_info: bool = False) -> bool:
        """Log ``message % args`` for ``cause`` unless it was written less than ``interval`` ago.

        Returns True when a line was written. A written line after suppressed ones ends with
        ``(N more since the last line)``; a traceback (``exc_info``) is attached only to the
        first line of each interval.
        """
        now = self._clock()
        with self._lock:
            last, suppressed = self._state.get(cause, (float("-inf"), 0))
            if now - last < self.interval:
                self._state[cause] = (last, suppressed + 1)
                return False
            self._state[cause] = (now, 0)
        if suppressed:
            message = f"{message} ({suppressed} more since the last line)"
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True

    def warning(self, cause: str, message: str, *args, **kwargs) -> bool:
        return self.log(logging.WARNING, cause, message, *args, **kwargs)

    def error(self, cause: str, message: str, *args, **kwargs) -> bool:
        return self.log(logging.ERROR, cause, message, *args, **kwargs)

    def info(self, cause: str, message: str, *args, **kwargs) -> bool:
        return self.log(logging.INFO, cause, message, *args, **kwargs)
