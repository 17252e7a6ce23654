"""What a server process built while starting is moved out of the garbage collector's way.

A full collection walks every object the collector tracks. Right after `config.wsgi` is
imported that is about 137,000 objects (modules, classes, Django's apps, URL patterns,
settings), all of which live as long as the process, and a full collection of them takes
~57 ms: a stall for every connection on a single-threaded callback worker. Before this, a
worker's first full collection came while it served, 64.6 ms within its first 16,000
callbacks. `gc.freeze()` moves them into the permanent generation, which collections skip:
what is left to walk is what requests made since. A collection first, so that garbage made
while starting is freed rather than frozen: that one full collection now happens before the
worker serves (`.venv/bin/python bench/gc_pause.py`; docs/benchmarks/igpx.md, session 17).

Called once, last, by the server entry points (`config/wsgi.py`, `config/asgi.py`).
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect, then freeze what is left; the number of objects now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
