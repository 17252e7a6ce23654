"""Betsy's unsettle (PUT type 1, §8) and rollback (PUT type 3, §9); the keys are described in
services.py. `bet_for`: the bet a settle, unsettle or rollback names, with what its keys need."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from wallet import money, rows
from wallet.betsy.answers import PROVIDER, Answer, answer, error_renderer, logger, success
from wallet.betsy.locked import Locked, bet_reads, check_owner, execute_locked, preload_statement, read_locked
from wallet.betsy.parsing import ROLLBACK, UNSETTLE, BetCall
from wallet.betsy.protocol import BetsyError, Code
from wallet.ledger import _to_decimal
from wallet.models import Bet, ReviewItem
from wallet.services import idempotency, reviews
from wallet.services.idempotency import Outcome, RequestKey, execute_once
from wallet.services.postings import bet_rollback_apply, bet_unsettle_apply


@dataclass(frozen=True, slots=True)
class _BetState:
    bet_id: int
    user_id: str
    currency: str
    status: str
    stake: Decimal
    payout: Decimal
    result: str
    epoch: int  # unsettles so far
    in_force: int | None  # the latest settle/resettle row


_STATE_SQL = (
    "SELECT b.id, p.external_id, b.currency, b.status, b.stake, b.payout, b.result,"
    " (SELECT COUNT(*) FROM wallet_settlement s WHERE s.bet_id = b.id AND s.kind = 'unsettle'),"
    " (SELECT MAX(s.id) FROM wallet_settlement s WHERE s.bet_id = b.id AND s.kind IN ('settle', 'resettle'))"
    " FROM wallet_bet b JOIN wallet_player p ON p.id = b.player_id"
    " WHERE b.provider = %s AND b.external_id = %s"
)


def _bet_state(transaction_id: str) -> _BetState | None:
    """The bet with what its keys need, in one round trip (index scans only: this runs on every
    settle, unsettle and rollback)."""
    with connection.cursor() as cursor:
        cursor.execute(_STATE_SQL, [PROVIDER, transaction_id])
        row = cursor.fetchone()
    if row is None:
        return None
    bet_id, user_id, currency, status, stake, payout, result, epoch, in_force = row
    return _BetState(
        bet_id, user_id, currency, status, _to_decimal(stake), _to_decimal(payout), result, epoch, in_force
    )


def bet_for(call: BetCall) -> _BetState:
    """The bet a settle/unsettle names, checked against the request (nothing stored on refusal)."""
    state = _bet_state(call.transaction_id)
    if state is None:
        # Betsy retries a failed settle; if its bet is still being placed, a later retry succeeds.
        raise BetsyError(Code.VALIDATION, f"unknown transactionId {call.transaction_id}")
    if state.user_id != call.user_id or state.currency != call.currency:
        raise BetsyError(Code.VALIDATION, "userId/currency do not match the bet")
    if state.status == Bet.Status.ROLLED_BACK:
        raise BetsyError(Code.VALIDATION, f"bet {call.transaction_id} was rolled back")
    return state


# An unsettle's key: the settlement in force (the latest settle or resettle, 0 if none), computed
# by the first statement (wallet.betsy.locked), as `bet_for` reads it.
_UNSETTLE_KEY = (
    "%s || ':' || COALESCE((SELECT MAX(s.id) FROM wallet_settlement s JOIN wallet_bet b ON b.id = s.bet_id"
    " WHERE b.provider = %s AND b.external_id = %s AND s.kind IN ('settle', 'resettle')), 0)"
)


def unsettle_bet(call: BetCall) -> Answer:
    """PUT /payment/bet type 1 (§8): revert the settlement in force; the bet is open again.

    The settle's flow (wallet.betsy.locked): one statement computes the key, claims it, reads any
    stored answer and reads and locks the bet and its wallet; the step follows, then the answer."""
    content: dict[str, object] = {"userId": call.user_id, "currency": call.currency}

    def apply(locked: Locked) -> Outcome:
        bet = locked.bet
        if bet.status == Bet.Status.OPEN:  # never settled, or unsettled by other means: nothing to revert
            return Outcome(200, success(f"B{bet.pk}"))
        # The stored settlement's amount is reverted, not the request's `amount` (§8).
        unsettled = bet_unsettle_apply(
            bet_id=bet.pk,
            external_id=call.transaction_id,
            locked=bet,
            wallet=locked.wallet,
            prefetched=locked.prefetched,
        )
        if unsettled.shortfall > 0:
            logger.warning(
                "betsy unsettle of %s left a debt of %s %s", call.transaction_id, unsettled.shortfall, call.currency
            )
        moved = unsettled.transaction_ids[-1] if unsettled.transaction_ids else None
        return Outcome(200, success(str(moved) if moved else f"S{unsettled.settlement.pk}"), moved)

    key_sql = idempotency.Preload(_UNSETTLE_KEY, (call.transaction_id, PROVIDER, call.transaction_id))
    return answer(execute_locked(call, UNSETTLE, key_sql, content, apply)[0])


def rollback_bet(call: BetCall) -> Answer:
    """PUT /payment/bet type 3 (§9): cancel the bet and refund its stake, once, in any order.

    The claim reads and locks the bet and its wallet in its statement (the settle's read,
    wallet.betsy.locked); a bet found there was placed, so its place key needs no tombstone.
    Only a rollback that finds no bet reserves the place key: if the bet never arrived, it never
    can now; if it is being written, that waits for it to commit, and the bet is read with it."""
    key = RequestKey(PROVIDER, call.transaction_id, "rollback")
    content: dict[str, object] = {"userId": call.user_id, "currency": call.currency}
    reads = bet_reads()
    preload = idempotency.Preload(preload_statement(reads), (PROVIDER, call.transaction_id))
    seen: list[Locked] = []

    def check(row: tuple | None, key: RequestKey) -> None:
        if row is not None:
            seen[:] = [read_locked(row, call, reads)[0]]
            check_owner(seen[0], call)  # before a replay too: a mismatch is refused, never stored

    def nothing_to_refund() -> Outcome:
        record = idempotency.find(key)  # ours, claimed in this transaction: its id is our answer's
        return Outcome(200, success(f"R{record.pk if record else 0}"))

    def apply(row: tuple | None) -> Outcome:
        if row is None:
            record, row = idempotency.tombstone_or_find(RequestKey(PROVIDER, call.transaction_id, "place"), preload)
            if record is None:
                logger.info("betsy rollback of %s arrived before its bet: tombstone", call.transaction_id)
                return nothing_to_refund()
            if row is None:  # its place committed after that statement began: read the bet now
                row = rows.values(preload.sql, preload.params)
            if row is None:  # the place bet was declined: nothing was debited
                return nothing_to_refund()
            check(row, key)
        bet, wallet = seen[0].bet, seen[0].wallet
        if bet.status == Bet.Status.ROLLED_BACK:  # cancelled by another path: never refund twice
            return nothing_to_refund()
        if call.amount and call.amount != bet.stake:
            logger.warning(
                "betsy rollback of %s carries amount %s, the stake was %s: refunding the stake",
                call.transaction_id,
                call.amount,
                bet.stake,
            )
            reviews.review_flag(
                kind=ReviewItem.Kind.ROLLBACK_MISMATCH,
                player_id=bet.player_id,
                bet_id=bet.pk,
                provider=PROVIDER,
                currency=bet.currency,
                amount=bet.stake,
                summary=f"betsy rollback {call.transaction_id} said {call.amount} {call.currency};"
                f" the stake refunded was {money.format_money(bet.stake, bet.currency)}",
            )
        rolled = bet_rollback_apply(
            bet_id=bet.pk, external_id=call.transaction_id, locked=bet, wallet=wallet, prefetched=seen[0].prefetched
        )
        refund = rolled.transaction_ids[-1]
        return Outcome(200, success(str(refund)), refund)

    reply = execute_once(
        key=key, content=content, apply=apply, render_error=error_renderer(ROLLBACK), preload=preload, check=check
    )
    if reply.outcome == "conflict":
        # A second rollback with other details: the bet is cancelled once; answer as the first time
        # (execute_once has logged the conflict for staff).
        record = idempotency.find(key)
        if record is not None and record.outcome == idempotency.APPLIED:
            return Answer(record.status_code, record.response.encode(), replayed=True)
    return answer(reply)
