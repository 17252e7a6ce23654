"""The delivery side of the outbox, and the staff actions on it.

Delivery, one batch at a time:
1. **Claim** (one short transaction): the oldest due row of up to BATCH_SIZE players whose
   older rows are all delivered or skipped, taken with `FOR NO KEY UPDATE SKIP LOCKED` so
   two workers never take the same row, plus up to PLAYER_RUN following rows of each of those
   players. Claimed rows become `sending` with a lease: while one is `sending`, no later row
   of its player can be claimed by anyone, which is what keeps a player's events in order.
2. **Send** (no transaction open), in waves: the next row of every player in the batch. The
   first failure of a player stops that player's run; the rest are released untouched. An
   outage of the endpoint stops the round and opens the circuit breaker (crm/breaker.py):
   nothing is counted, nothing claimed until a probe finds the endpoint back.
3. **Record** (after each wave, and at the end: one statement, or one short transaction
   when it takes several): delivered rows are marked, failed rows get their backoff or the
   dead letter, released rows go back to pending, the lease of the rest is renewed; only
   rows still carrying our claim token are touched (a worker that outlived its lease changes
   nothing). A worker that dies leaves unrecorded only what it had in flight.

A dead row stays open: it blocks its player's later rows until staff retry or skip it.
Exactly once on our side: a delivered row is never claimed again unless staff retry it.
Fast Track may still see an event twice if a worker dies between its send and its record
(the lease expires and the row is sent again): the activity_id is the same, the body
byte-identical.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.logthrottle import Throttled
from crm import breaker, claims, conf, mapping
from crm.claims import DEAD, DELIVERED, FAILED, OUTAGE
from crm.models import OutboxEvent
from crm.transports import Message, NotSent, TransientError, Transport
from wallet import money
from wallet.services.audit import audit_record

logger = logging.getLogger("touchline.crm")
throttled = Throttled(logger, interval=60.0)

Status = OutboxEvent.Status
OPEN = [s.value for s in OutboxEvent.OPEN_STATES]


class MappingError(Exception):
    """The row cannot be turned into a valid event (e.g. no exchange rate configured)."""


# --- Payloads -----------------------------------------------------------------------------------


def _rate(stored: Decimal | None, currency: str) -> Decimal:
    rate = stored if stored is not None else conf.exchange_rate(currency)
    if rate is None or rate <= 0:
        raise MappingError(f"no exchange rate for {currency}: add it to FASTTRACK_EXCHANGE_RATES")
    return rate


def _bet_facts(row: OutboxEvent) -> mapping.BetFacts:
    bet = row.bet
    return mapping.BetFacts(
        provider=bet.provider,
        currency=bet.currency,
        stake=bet.stake,
        stake_real=bet.stake_real,
        stake_bonus=bet.stake_bonus,
        odds=bet.odds,
        bet_type=bet.bet_type,
        selections=bet.selections or [],
        placed_at=bet.placed_at,
    )


class PayloadBuilder:
    """Builds the payload of claimed rows. What they read besides their own rows (the bets'
    Bet/Approved rows, the providers of unlinked results) comes with the claim
    (`claims.Claimed`), or is fetched here once for the rows given."""

    def __init__(self, rows: Iterable[OutboxEvent], claimed: claims.Claimed | None = None) -> None:
        self.origin = settings.FASTTRACK_ORIGIN  # read once a batch: a settings read is a LazyObject call
        if claimed is not None:
            self.bet_rows, self.providers = claimed.bet_rows, claimed.providers
            return
        rows = list(rows)
        bet_ids = {r.bet_id for r in rows if r.bet_id is not None}
        bet_ids |= {r.reverses.bet_id for r in rows if r.reverses is not None and r.reverses.bet_id is not None}
        self.bet_rows = {
            r.bet_id: r
            for r in OutboxEvent.objects.filter(
                bet_id__in=bet_ids, event_type=OutboxEvent.EventType.BET, event_status=OutboxEvent.EventStatus.APPROVED
            )
        }
        # An unlinked result names its provider, which only its ledger transaction records: one
        # query for the batch (a query per event was 38% of the delivery worker's time under an
        # IGPX load, docs/benchmarks/crm.md).
        unlinked = {r.transaction_id for r in rows if r.unlinked and not r.body and r.transaction_id is not None}
        self.providers: dict[int, str] = {}
        if unlinked:
            from wallet.models import LedgerTransaction

            self.providers = dict(LedgerTransaction.objects.filter(pk__in=unlinked).values_list("pk", "provider"))

    def _envelope(self, row: OutboxEvent, reference: str) -> mapping.Envelope:
        return mapping.Envelope(
            activity_id=row.activity_id,
            reference=reference,
            event_type=row.event_type,
            status=row.event_status,
            user_id=row.player.external_id,
            currency=row.currency,
            occurred_at=row.occurred_at,
            balance_before=row.balance_before,
            balance_after=row.balance_after,
            exchange_rate=_rate(row.exchange_rate, row.currency),
            origin=self.origin,
        )

    def _bet_row(self, row: OutboxEvent) -> OutboxEvent:
        bet_row = self.bet_rows.get(row.bet_id)
        if bet_row is None:
            bet_row = OutboxEvent.objects.filter(
                bet_id=row.bet_id, event_type=OutboxEvent.EventType.BET, event_status=OutboxEvent.EventStatus.APPROVED
            ).first()
            if bet_row is None:
                raise MappingError(f"bet {row.bet_id} has no Bet event to reference")
            self.bet_rows[row.bet_id] = bet_row
        return bet_row

    def payload(self, row: OutboxEvent) -> dict:
        """The event as a dict (numbers as Decimal). A stored body wins: retries are byte-identical."""
        if row.body:
            return money.loads(row.body)
        if row.event_status == OutboxEvent.EventStatus.ROLLBACK:
            original = row.reverses
            if original is None:
                raise MappingError("a Rollback row without the event it cancels")
            reference = original.activity_id if row.unlinked else self._bet_row(row).activity_id
            return mapping.rollback_event(self.payload(original), self._envelope(row, reference))
        if row.unlinked:
            payout = row.balance_after - row.balance_before  # a bare credit to real money
            return mapping.unlinked_result_event(self._envelope(row, ""), payout=payout, provider=self._provider(row))
        if row.event_type == OutboxEvent.EventType.BET:
            return mapping.bet_event(self._envelope(row, ""), _bet_facts(row))
        bet_row = self._bet_row(row)
        settlement = row.settlement
        if settlement is None:
            raise MappingError("a Settlement row without its settlement")
        return mapping.settlement_event(
            self._envelope(row, bet_row.activity_id),
            _bet_facts(row),
            payout=settlement.amount,
            result=settlement.result,
            reference_exchange_rate=_rate(bet_row.exchange_rate, row.currency),
        )

    def _provider(self, row: OutboxEvent) -> str:
        if row.transaction_id is None:
            return ""
        if row.transaction_id not in self.providers:  # a row this builder was not made with
            from wallet.models import LedgerTransaction

            found = LedgerTransaction.objects.filter(pk=row.transaction_id).values_list("provider", flat=True).first()
            self.providers[row.transaction_id] = found or ""
        return self.providers[row.transaction_id]

    def body(self, row: OutboxEvent) -> str:
        return row.body or mapping.encode(self.payload(row))


# --- Send and record -----------------------------------------------------------------------------


@dataclass
class BatchResult:
    claimed: int = 0
    delivered: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # failed while the endpoint accepted others: counted
    dead: list[int] = field(default_factory=list)
    released: int = 0
    lost: int = 0  # rows whose claim had passed to someone else when we recorded them
    paused: bool = False  # the endpoint is unavailable (crm/breaker.py): nothing counted, nothing dead
    more: bool = False  # deliver_pending stopped on its time budget with rows still flowing
    full: bool = False  # the claim took all it could: more rows may be due now


def deliver_batch(*, transport: Transport, now: datetime | None = None, limit: int | None = None) -> BatchResult:
    """Claim, send and record one batch. Never raises for a delivery problem.

    Nothing is claimed while the breaker is open and no probe is due (`result.paused`).
    Rows go out in waves: each wave holds the next row of every player still in the batch,
    so the transport can pipeline a wave (one wait for many confirms) while a player's next
    row is only sent once the previous one was accepted. After each wave (at least every
    FLUSH_SECONDS of sending) its outcomes are recorded and the lease of the rest renewed, so
    a worker that dies re-sends only what was in flight.

    A transient failure that the endpoint did not follow with an answer to another event of
    the wave is an outage: the round stops, the rows go back as they were (nothing counted),
    the breaker opens. One followed by an answer is about that event: counted, backed off.
    """
    claimed_at = now or timezone.now()
    if not breaker.allows(claimed_at):
        return BatchResult(paused=True)
    token = secrets.token_hex(8)
    claimed = claims.claim(token=token, now=claimed_at, limit=limit)
    rows = claimed.rows
    result = BatchResult(claimed=len(rows), full=claimed.full)
    if not rows:
        return result
    builder = PayloadBuilder(rows, claimed)
    outcomes: dict[int, tuple[str, str]] = {}
    fresh: set[int] = set()  # rows whose body is built (and frozen) in this batch
    queues: dict[int, deque[OutboxEvent]] = {}
    for row in rows:  # claim() returns rows in id order
        queues.setdefault(row.player_id, deque()).append(row)
    unrecorded: list[OutboxEvent] = []  # decided, not yet written
    written: set[int] = set()
    lease_left = time.monotonic() + conf.LEASE_SECONDS * 0.8  # never send on a lease about to lapse
    outage = ""
    served = False  # the endpoint answered something in this batch

    def decide(row: OutboxEvent, outcome: str, error: str = "") -> None:
        outcomes[row.id] = (outcome, error)
        unrecorded.append(row)
        if outcome == DELIVERED:
            result.delivered.append(row.id)
            queue = queues[row.player_id]
            queue.popleft()
            if not queue:
                del queues[row.player_id]
            return
        queues.pop(row.player_id, None)  # a failure ends the player's run; its later rows are released
        if outcome == DEAD:
            result.dead.append(row.id)
            throttled.error("dead-letter", "fasttrack %s dead-lettered: %s", row.activity_id, error)
        elif outcome == FAILED:
            result.failed.append(row.id)
            throttled.warning(
                "event-failed", "fasttrack %s failed (attempt %s): %s", row.activity_id, row.attempts + 1, error
            )

    while queues and time.monotonic() < lease_left:
        wave: list[OutboxEvent] = []
        for queue in list(queues.values()):
            row = queue[0]
            try:
                if not row.body:
                    fresh.add(row.id)
                row.body = builder.body(row)
            except MappingError as exc:
                decide(row, DEAD, f"MappingError: {exc}")
                continue
            except Exception as exc:  # a bug: retry later, and say so loudly
                throttled.log(
                    logging.ERROR, "build", "fasttrack %s: cannot build the event", row.activity_id, exc_info=True
                )
                decide(row, FAILED, f"unexpected {type(exc).__name__}: {exc}")
                continue
            wave.append(row)
        if not wave:
            continue
        messages = [
            Message(activity_id=r.activity_id, user_id=r.player.external_id, body=r.body.encode()) for r in wave
        ]
        try:
            sent = transport.send_many(messages, deadline=min(time.monotonic() + conf.FLUSH_SECONDS, lease_left))
        except Exception as exc:  # a transport bug or an unexpected library error
            throttled.log(
                logging.ERROR, "transport", "fasttrack: transport %s failed unexpectedly", transport.name, exc_info=True
            )
            sent = [TransientError(f"unexpected {type(exc).__name__}: {exc}")] * len(wave)
        # The endpoint answered (accepted or refused) the message at this index or a later one:
        # a transient failure followed by an answer is about its event, not an outage.
        answered_from = [False] * (len(sent) + 1)
        for index in range(len(sent) - 1, -1, -1):
            error = sent[index]
            answered_from[index] = answered_from[index + 1] or error is None or error.permanent
        if answered_from[0] and not served:
            served = True
            breaker.reset(claimed_at)  # at once, so that every worker resumes, not after this batch
        for index, (row, error) in enumerate(zip(wave, sent, strict=True)):
            if error is None:
                decide(row, DELIVERED)
            elif isinstance(error, NotSent):
                continue  # still the head of its queue: the next wave sends it
            elif error.permanent:
                decide(row, DEAD, str(error))
            elif answered_from[index + 1]:
                decide(row, FAILED, str(error))
            else:
                decide(row, OUTAGE, str(error))
                outage = outage or str(error)
        if outage:
            break
        if queues:  # record this wave and keep the rest: a crash from here re-sends only the next wave
            stamp = now or timezone.now()
            # The lease is renewed once a quarter of it is gone, not after every wave.
            renew = time.monotonic() > lease_left - conf.LEASE_SECONDS * 0.55
            until = stamp + timedelta(seconds=conf.LEASE_SECONDS) if renew else None
            lost = claims.record(token, unrecorded, outcomes, stamp, fresh, renew_until=until)
            result.lost += lost
            written.update(r.id for r in unrecorded)
            unrecorded = []
            if renew:
                lease_left = time.monotonic() + conf.LEASE_SECONDS * 0.8
            if lost:  # our lease lapsed and someone else owns these players now
                break
    final = [r for r in rows if r.id not in written]  # decided since the last record, and the unsent
    result.lost += claims.record(token, final, outcomes, now or timezone.now(), fresh)
    result.released = sum(1 for r in rows if r.id not in outcomes)
    if outage:  # also when it went down after serving part of this batch
        result.paused = True
        breaker.trip(outage, claimed_at)
    return result


def deliver_pending(
    *, transport: Transport, now: datetime | None = None, time_budget: float = 30.0, limit: int | None = None
) -> BatchResult:
    """Deliver batches until nothing is due (or the time budget is spent). Totals of all batches."""
    total = BatchResult()
    started = time.monotonic()
    while True:
        batch = deliver_batch(transport=transport, now=now, limit=limit)
        total.claimed += batch.claimed
        total.delivered += batch.delivered
        total.failed += batch.failed
        total.dead += batch.dead
        total.released += batch.released
        total.lost += batch.lost
        total.paused = batch.paused
        # A claim that was not full took everything due: rows committed since have kicked a
        # task of their own (the kick flag is cleared when a task starts), so another claim
        # here would come back empty.
        if batch.claimed == 0 or not batch.delivered or not batch.full:
            return total
        if time.monotonic() - started > time_budget:
            total.more = True
            return total


def recover_expired_leases(*, now: datetime | None = None) -> int:
    """Rows a worker claimed and never recorded (it died): back to pending, due at once.

    Not an attempt: the worker's death says nothing about the event or the endpoint. Since
    workers record each wave, these are only the rows that were in flight (or never sent).
    """
    now = now or timezone.now()
    recovered = OutboxEvent.objects.filter(status=Status.SENDING, leased_until__lt=now).update(
        status=Status.PENDING,
        claim_token="",
        leased_until=None,
        next_attempt_at=now,
        last_error="lease expired: the worker sending this event stopped before recording the outcome",
    )
    if recovered:
        logger.warning("fasttrack: recovered %s rows from expired leases", recovered)
    return recovered


# --- Staff actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffActionResult:
    changed: list[int]
    refused: list[int]


@transaction.atomic
def outbox_retry(*, event_ids: Iterable[int], actor_id: int | None, reason: str) -> StaffActionResult:
    """Send again: a dead (or skipped) row goes back to pending with a fresh attempt count; a
    delivered row is re-sent only because staff asked (same activity_id, same bytes)."""
    if not reason.strip():
        raise ValueError("a reason is required")
    allowed = {Status.DEAD, Status.SKIPPED, Status.DELIVERED, Status.PENDING}
    changed, refused = [], []
    now = timezone.now()
    for row in OutboxEvent.objects.select_for_update(no_key=True).filter(id__in=list(event_ids)).order_by("id"):
        if row.status not in allowed:
            refused.append(row.id)
            continue
        previous = row.status
        OutboxEvent.objects.filter(pk=row.pk).update(
            status=Status.PENDING, attempts=0, next_attempt_at=now, claim_token="", leased_until=None
        )
        audit_record(
            actor_id=actor_id,
            action="crm.outbox.retry",
            obj=row,
            reason=reason,
            data={"activity_id": row.activity_id, "from": previous, "attempts": row.attempts, "error": row.last_error},
        )
        changed.append(row.id)
    if changed:
        from crm.tasks import kick

        transaction.on_commit(kick, robust=True)
    return StaffActionResult(changed, refused)


@transaction.atomic
def outbox_skip(*, event_ids: Iterable[int], actor_id: int | None, reason: str) -> StaffActionResult:
    """Give up on a pending or dead row: it will never be sent, and its player's later rows move on."""
    if not reason.strip():
        raise ValueError("a reason is required")
    changed, refused = [], []
    for row in OutboxEvent.objects.select_for_update(no_key=True).filter(id__in=list(event_ids)).order_by("id"):
        if row.status not in (Status.PENDING, Status.DEAD):
            refused.append(row.id)
            continue
        previous = row.status
        OutboxEvent.objects.filter(pk=row.pk).update(status=Status.SKIPPED, claim_token="", leased_until=None)
        audit_record(
            actor_id=actor_id,
            action="crm.outbox.skip",
            obj=row,
            reason=reason,
            data={"activity_id": row.activity_id, "from": previous, "attempts": row.attempts, "error": row.last_error},
        )
        changed.append(row.id)
    if changed:
        from crm.tasks import kick

        transaction.on_commit(kick, robust=True)
    return StaffActionResult(changed, refused)
