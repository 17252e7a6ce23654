"""The test suite's settings: production settings on a demo install.

TOUCHLINE_DEMO lets the public demo secrets stand in (config/security.py). It is set in the
environment, not only here, so every process a test starts (servers, commands) inherits it.

REDIS_URL and CELERY_BROKER_URL are dropped from the environment: the suite runs as CI runs it,
whatever the developer's shell exports to run the product on Redis. Left in, they would move
every test onto a shared Redis cache and a real broker, where a task waits for a worker that is
not there (a delivery test then sees nothing delivered). The tests that check Redis or a broker
on purpose take their servers from TOUCHLINE_TEST_REDIS_URL / TOUCHLINE_TEST_AMQP_URL.
"""

import os
import sys

os.environ.setdefault("TOUCHLINE_DEMO", "true")
_ignored = [name for name in ("REDIS_URL", "CELERY_BROKER_URL") if os.environ.pop(name, None)]
if _ignored:
    print(
        f"test settings: {' and '.join(_ignored)} ignored (tests that need Redis or a broker use"
        " TOUCHLINE_TEST_REDIS_URL / TOUCHLINE_TEST_AMQP_URL)",
        file=sys.stderr,
    )

from config.settings import *  # noqa: E402,F403
