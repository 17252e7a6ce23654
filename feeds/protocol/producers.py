"""What the docs say about producers, for use before producers.xml has been fetched.

Read producers.xml at runtime (`active` varies per account); these defaults only let recovery
and the admin work on a fresh database. Windows are stateful_recovery_window_in_minutes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KnownProducer:
    id: int
    name: str
    path: str  # api_url = <UOF_API_URL>/<path>/
    scope: str
    window_minutes: int


KNOWN_PRODUCERS = {
    p.id: p
    for p in (
        KnownProducer(1, "LO", "liveodds", "live", 600),
        KnownProducer(3, "Ctrl", "pre", "prematch", 4320),
        KnownProducer(4, "BetPal", "betpal", "live", 4320),
        KnownProducer(5, "PremiumCricket", "premium_cricket", "live|prematch", 4320),
        KnownProducer(6, "VF", "vf", "virtual", 180),
        KnownProducer(7, "WNS", "wns", "prematch", 4320),
        KnownProducer(8, "VBL", "vbl", "virtual", 180),
        KnownProducer(9, "VTO", "vto", "virtual", 180),
        KnownProducer(10, "VDR", "vdr", "virtual", 180),
        KnownProducer(11, "VHC", "vhc", "virtual", 180),
        KnownProducer(12, "VTI", "vti", "virtual", 180),
        KnownProducer(14, "C-Odds", "codds", "live", 4320),
        KnownProducer(15, "VBI", "vbi", "virtual", 180),
        KnownProducer(16, "PB", "performance", "live|prematch", 4320),
        KnownProducer(17, "VCI", "vci", "virtual", 180),
    )
}

DEFAULT_WINDOW_MINUTES = 4320

# Recovery rate limits (docs): by how far back `after` reaches, max requests per period.
# Each tier is a list of (period seconds, max requests).
RATE_LIMITS: tuple[tuple[int | None, tuple[tuple[int, int], ...]], ...] = (
    (30 * 60, ((600, 20), (3600, 60))),  # now - after < 30 min
    (24 * 3600, ((600, 4), (3600, 10))),  # < 1 day
    (None, ((1800, 2), (7200, 4))),  # >= 1 day, and full recoveries (no `after`)
)
EVENT_RATE_LIMITS = ((600, 100), (3600, 300))


def rate_limits_for(age_seconds: float | None) -> tuple[tuple[int, int], ...]:
    """The (period, max) limits that apply to a producer recovery reaching back age_seconds."""
    for bound, limits in RATE_LIMITS:
        if bound is not None and age_seconds is not None and age_seconds < bound:
            return limits
    return RATE_LIMITS[-1][1]
