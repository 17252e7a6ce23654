"""The test suite's settings: production settings on a demo install.

TOUCHLINE_DEMO lets the public demo secrets stand in (config/security.py). It is set in the
environment, not only here, so every process a test starts (servers, commands) inherits it.
"""

import os

os.environ.setdefault("TOUCHLINE_DEMO", "true")

from config.settings import *  # noqa: E402,F403
