"""Provider settlements checked against Betradar's: a disagreement goes to the review queue.

A bet selection is *mapped* when it names a Betradar event (`event_id` "sr:…" with
`market_id`, `outcome_id` and, where the market has them, `specifiers`), as selections built
with feeds.selectors.selection_info do. The check runs when a provider settles a bet (inside
that money transaction) and again from Celery beat for recently settled bets, because the
provider often settles before Betradar does.

Only clear cases are compared: every leg settled by Betradar as won (1) or lost (0) with no
void or dead-heat factor, and the provider's result a win or a loss. Anything else (voids,
half results, refunds, cash-outs) is left to staff's normal review.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from feeds.models import MarketSettlement
from feeds.selectors import canonical_specifiers
from wallet import events
from wallet.models import Bet, ReviewItem, Settlement
from wallet.services.reviews import review_flag

logger = logging.getLogger("touchline.feeds.reconcile")

WIN_RESULTS = {"won", "win"}
LOSS_RESULTS = {"lost", "lose", "loss"}


def _mapped_legs(bet: Bet) -> list[dict] | None:
    legs = [leg for leg in bet.selections or [] if isinstance(leg, dict)]
    if not legs:
        return None
    for leg in legs:
        if (
            not str(leg.get("event_id", "")).startswith("sr:")
            or leg.get("market_id") in (None, "")
            or not leg.get("outcome_id")
        ):
            return None
    return legs


# Whether a bet may have mapped legs: one of them names a Betradar event (a necessary condition of
# `_mapped_legs`: `->>` gives a string as written, any other JSON value a text that cannot start
# with "sr:"). Sent with the statement that locks the bet (Betsy's settle), so that the common
# unmapped bet is passed over without its selections being read and decoded (issue #18).
_MAY_BE_MAPPED = (
    "SELECT EXISTS (SELECT 1 FROM wallet_bet fb CROSS JOIN LATERAL jsonb_array_elements(CASE"
    " jsonb_typeof(fb.selections) WHEN 'array' THEN fb.selections ELSE '[]'::jsonb END) leg"
    " WHERE fb.id = {bet} AND leg->>'event_id' LIKE 'sr:%%')"
)
BET_READ = events.BetRead("feeds", _MAY_BE_MAPPED, 1)


def betradar_verdict(bet: Bet) -> bool | None:
    """True if Betradar says every leg won, False if any leg lost, None when it cannot say."""
    legs = _mapped_legs(bet)
    if legs is None:
        return None
    verdicts = []
    for leg in legs:
        rows = MarketSettlement.objects.filter(
            market__event__urn=leg["event_id"],
            market__market_id=int(leg["market_id"]),
            market__specifiers=canonical_specifiers(str(leg.get("specifiers", ""))),
        ).order_by("-certainty", "producer_id")
        outcome = None
        for row in rows:
            outcome = (row.outcomes or {}).get(str(leg["outcome_id"]))
            if outcome:
                break
        if not outcome or outcome.get("void_factor") or outcome.get("dead_heat_factor"):
            return None
        if outcome.get("result") == 0:
            return False  # one lost leg decides the bet
        if outcome.get("result") != 1:
            return None
        verdicts.append(True)
    return all(verdicts)


def provider_verdict(step: Settlement) -> bool | None:
    result = (step.result or "").lower()
    if result in WIN_RESULTS and step.amount > 0:
        return True
    if result in LOSS_RESULTS or (result == "" and step.amount == 0 and step.kind == Settlement.Kind.SETTLE):
        return False
    return None


def check_settlement(step: Settlement) -> ReviewItem | None:
    """Flag the step if Betradar disagrees; at most one item per settlement step."""
    bet = step.bet
    if bet is None:
        return None
    provider = provider_verdict(step)
    if provider is None:
        return None
    feed = betradar_verdict(bet)
    if feed is None or feed == provider:
        return None
    if ReviewItem.objects.filter(kind=ReviewItem.Kind.RESULT_MISMATCH, settlement=step).exists():
        return None
    said = "won" if provider else "lost"
    truth = "won" if feed else "lost"
    logger.warning("bet %s: %s settled it %s, Betradar says %s", bet.external_id, bet.provider, said, truth)
    return review_flag(
        kind=ReviewItem.Kind.RESULT_MISMATCH,
        player_id=bet.player_id,
        bet_id=bet.pk,
        settlement_id=step.pk,
        summary=f"{bet.provider} bet {bet.external_id}: provider settled {said}, Betradar says {truth}",
    )


def on_wallet_event(event: events.WalletEvent) -> None:
    """Wallet subscriber: check a provider's settlement as it happens.

    The step and its bet come with the event, as the posting wrote them: an unmapped bet (the
    common case) costs no query here. Only an event published without them is read."""
    if event.kind not in (events.BET_SETTLED, events.BET_RESETTLED) or event.settlement_id is None:
        return
    step = event.settlement
    if step is None:
        step = Settlement.objects.select_related("bet").get(pk=event.settlement_id)
    if step.bet_id is None:
        return
    known = (event.prefetched or {}).get(BET_READ.name)
    if known is not None and not known[0]:
        return  # no leg names a Betradar event: not mapped
    if _mapped_legs(step.bet) is not None:
        check_settlement(step)


def check_recent_settlements(*, hours: int = 48) -> int:
    """Beat: Betradar often settles after the provider; look again at recent settlements in force."""
    since = timezone.now() - timedelta(hours=hours)
    flagged = 0
    steps = (
        Settlement.objects.filter(
            created_at__gte=since,
            kind__in=[Settlement.Kind.SETTLE, Settlement.Kind.RESETTLE],
            bet__isnull=False,
            bet__status=Bet.Status.SETTLED,
        )
        .exclude(bet__selections=[])
        .select_related("bet")
        .order_by("id")
    )
    for step in steps.iterator():
        latest = Settlement.objects.filter(bet_id=step.bet_id).order_by("-id").values_list("id", flat=True).first()
        if latest != step.pk:
            continue  # only the settlement in force matters
        with transaction.atomic():
            if check_settlement(step) is not None:
                flagged += 1
    return flagged
