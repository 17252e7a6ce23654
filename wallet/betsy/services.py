"""Betsy callbacks as wallet operations: each one composes idempotency.execute_once with a
postings.*_apply function and renders Betsy's answer. Parsing and signing live in protocol.py,
HTTP in views.py.

Idempotency keys (provider "betsy"; see docs/betsy.md for the reasoning):
- place:    (transactionId, "place"). Exact retry replays; a different stake/user/currency
            under the same id, or a place after its own rollback (tombstone), is code 8.
- settle:   ("<transactionId>:<epoch>:<amount>:<resultType>", "settle"). A settle may
            legitimately come again with another amount (a resettle), so the amount and result
            are part of the key: an exact retry replays, a different result is a new request that
            re-settles. `epoch` counts the unsettles the bet has had, so a result re-sent after
            an unsettle applies again instead of replaying the pre-unsettle answer. The amount
            is Betsy's, exact; the ledger credits it rounded up to the currency (money.payable).
- unsettle: ("<transactionId>:<settlement id in force, 0 if never settled>", "unsettle"): it
            reverts that one settlement; a retry of it replays the first answer byte for byte,
            even though the bet is open by then. A later settle makes a new settlement in force,
            so a stored no-op can never shadow a later unsettle.
- rollback: (transactionId, "rollback"); refunds once whatever the order. A rollback before its
            bet leaves a tombstone on (transactionId, "place").

The `transactionId` we answer is always ours: `<n>` the ledger transaction that moved money,
`S<n>` the settlement of a settle that moved none (a lost bet), `B<n>` the bet of an unsettle
that found it open, `R<n>` our record of a rollback that had nothing to refund.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.db import transaction

from wallet import errors, money
from wallet.betsy import conf, tokens
from wallet.betsy.answers import PROVIDER, Answer, answer, code_for, error_renderer, logger, success
from wallet.betsy.locked import Locked, execute_locked
from wallet.betsy.parsing import (
    PLACE,
    ROLLBACK,
    SETTLE,
    UNSETTLE,
    BalanceRequest,
    BetCall,
    CheckRequest,
    ProfileRequest,
)
from wallet.betsy.protocol import BetsyError, Code, dumps, format_time, money_amount, render_balance, render_profile
from wallet.betsy.reversals import bet_for, rollback_bet, unsettle_bet
from wallet.models import Bet, Player, ReviewItem
from wallet.selectors import wallet_from_row, wallet_get, wallet_query
from wallet.services import idempotency, reviews
from wallet.services.audit import audit_record
from wallet.services.idempotency import Outcome, RequestKey, execute_once
from wallet.services.postings import bet_place_apply, bet_settle_apply

# --- Profile and balance --------------------------------------------------------------------------


def profile_get(request: ProfileRequest) -> Answer:
    """POST /user/profile (§4). The token names the player; its currency is the only one offered,
    because the token (and so every later balance and bet) is bound to it."""
    claims, _ = tokens.read(request.token)
    player = (
        Player.objects.filter(pk=claims.player_id)
        .only("external_id", "status", "is_test", "nickname", "country", "date_of_birth", "verification")
        .first()
    )
    if player is None:
        raise BetsyError(Code.INVALID_TOKEN, "invalid token")
    tokens.verify(request.token, external_id=player.external_id)
    custom: dict[str, object] = {"isCashOutAllowed": conf.CASHOUT_ALLOWED, "userStatus": player.status}
    if player.nickname:
        custom["nickname"] = player.nickname
    if player.country:
        custom["userCountry"] = player.country
    # What the platform knows of age and identity (docs/PROTECTION.md); the bet path enforces
    # both itself, this only lets the iframe say so before a bet is tried.
    if player.date_of_birth:
        custom["birthday"] = player.date_of_birth.isoformat()
    custom["isVerified"] = player.verification == Player.Verification.VERIFIED
    body = render_profile(
        user_id=player.external_id,
        currency=claims.currency,
        currencies=[claims.currency],
        is_test=player.is_test,
        custom_fields=custom,
    )
    return Answer(200, body)


def balance_get(request: BalanceRequest) -> Answer:
    """POST /user/balance (§5): spendable balance (real + bonus) in the token's currency."""
    claims = tokens.verify(request.token, external_id=request.user_id, currency=request.currency)
    try:
        wallet = wallet_get(external_id=request.user_id, currency=request.currency)
    except (errors.PlayerNotFound, errors.CurrencyMismatch):
        raise BetsyError(Code.INVALID_TOKEN, "invalid token") from None
    if wallet.player_id != claims.player_id:
        raise BetsyError(Code.INVALID_TOKEN, "invalid token")
    return Answer(200, render_balance(request.user_id, request.currency, wallet.spendable))


# --- /payment/bet ---------------------------------------------------------------------------------


def bet_execute(call: BetCall) -> Answer:
    return _HANDLERS[call.operation](call)


def _verify_token_or_replay(
    call: BetCall, key: RequestKey, content: dict[str, object]
) -> tuple[tokens.Claims | None, Answer | None]:
    """The token's claims; or, when the token fails but this exact request was already applied,
    its stored answer: a retry of an accepted bet keeps its success even if the token expired
    since (answering 3/4 would make Betsy roll back a bet it had been told was placed)."""
    try:
        return tokens.verify(call.token, external_id=call.user_id, currency=call.currency), None
    except BetsyError:
        record = idempotency.find(key)
        if (
            record is not None
            and record.outcome == idempotency.APPLIED
            and record.fingerprint == idempotency.fingerprint(content)
        ):
            return None, Answer(record.status_code, record.response.encode(), replayed=True)
        raise


def place_bet(call: BetCall) -> Answer:
    """POST /payment/bet type 1 (§6): debit the stake once."""
    key = RequestKey(PROVIDER, call.transaction_id, "place")
    # Only what defines the money: a retry that differs in requestId, token, ip or metadata
    # details is still the same bet and must get the stored success, never code 8.
    content: dict[str, object] = {
        "userId": call.user_id,
        "currency": call.currency,
        "amount": call.amount,
        "bonusAmount": call.bonus_amount,
    }
    claims, replay = _verify_token_or_replay(call, key, content)
    if replay is not None:
        return replay
    assert claims is not None

    def apply(row: tuple | None) -> Outcome:
        # The wallet was read by the claim's own statement (idempotency.Preload).
        wallet = wallet_from_row(row, who=call.user_id, currency=call.currency)
        if wallet.player_id != claims.player_id:
            raise BetsyError(Code.INVALID_TOKEN, "invalid token")
        placed = bet_place_apply(
            provider=PROVIDER,
            external_id=call.transaction_id,
            wallet=wallet,
            amount=call.amount,
            bonus_amount=call.bonus_amount,
            odds=call.coefficient,
            bet_type=call.bet_type,
            selections=call.selections,
            brand=call.sub_partner_id or "",
        )
        return Outcome(200, success(str(placed.transaction_id)), placed.transaction_id)

    sql, params = wallet_query(external_id=call.user_id, currency=call.currency)
    return answer(
        execute_once(
            key=key,
            content=content,
            apply=apply,
            render_error=error_renderer(PLACE),
            preload=idempotency.Preload(sql, params),
        )
    )


def _amount_key(amount: Decimal) -> str:
    return format(amount.normalize(), "f")  # 10, 10.0 and 10.00 are one amount


def resettle_shortfall(*, balance: Decimal, in_force: Decimal, new: Decimal) -> Decimal:
    """What a resettle would have to record as debt. The core pays the new amount before it
    takes the payout in force back, so only the net reduction has to fit in the real balance:
    with 3 left of a 10 win, a resettle to 8 nets -2 and fits; a resettle to 0 needs 10."""
    return max(Decimal(0), in_force - new - balance)


# A settle's key: its epoch is the bet's unsettle count, computed by the first statement.
_EPOCH = (
    "(SELECT COUNT(*) FROM wallet_settlement s JOIN wallet_bet b ON b.id = s.bet_id"
    " WHERE b.provider = %s AND b.external_id = %s AND s.kind = 'unsettle')"
)
_SETTLE_KEY = f"%s || ':' || {_EPOCH} || %s"


def settle_bet(call: BetCall) -> Answer:
    """PUT /payment/bet type 2 (§7): settle, or re-settle to a different amount.

    One statement claims the key, reads any stored answer and reads and locks the bet and its
    wallet; a second pays and records the step (ledger.post with the step); the last stores
    the answer with the outbox rows."""
    content: dict[str, object] = {
        "userId": call.user_id,
        "currency": call.currency,
        "amount": call.amount,
        "resultType": call.result_type,
    }
    if call.is_cashout:  # the only player-initiated settlement: the token must be good
        try:
            tokens.verify(call.token, external_id=call.user_id, currency=call.currency)
        except BetsyError:
            state = bet_for(call)
            _, replay = _verify_token_or_replay(call, _settle_key(call, state.epoch), content)
            if replay is not None:
                return replay
    policy = conf.resettle_policy(call.sub_partner_id)
    paid = money.payable(call.amount, call.currency)  # Betsy's amount unless finer than the currency
    suffix = f":{_amount_key(call.amount)}:{call.result_type}"

    def apply(locked: Locked) -> Outcome:
        bet, wallet = locked.bet, locked.wallet
        recalculation = bet.status == Bet.Status.SETTLED and (bet.payout != paid or bet.result != call.result_type)
        if recalculation and policy == conf.BLOCK:
            raise BetsyError(Code.RECALCULATION_BLOCKED, "recalculation of a settled bet is blocked")
        if recalculation and policy == conf.REFUSE_NEGATIVE:
            # The wallet was read under its row lock, taken after the bet's (the order of every bet posting).
            if resettle_shortfall(balance=wallet.balance, in_force=bet.payout, new=paid) > 0:
                raise BetsyError(Code.RECALCULATION_NEGATIVE, "recalculation would make the balance negative")
        try:
            settled = bet_settle_apply(
                bet_id=bet.pk,
                amount=paid,
                result=call.result_type,
                external_id=call.transaction_id,
                locked=bet,
                wallet=wallet,
                unsettled_before=locked.epoch > 0,
                prefetched=locked.prefetched,
                step_id=locked.step_id,
            )
        except errors.BetStateError:  # rolled back since we looked: refused, and not stored
            raise BetsyError(Code.VALIDATION, f"bet {call.transaction_id} was rolled back") from None
        if settled.shortfall > 0:
            logger.warning(
                "betsy resettle of %s left a debt of %s %s", call.transaction_id, settled.shortfall, call.currency
            )
        if paid != call.amount:
            reviews.review_flag(
                kind=ReviewItem.Kind.ROUNDED_PAYOUT,
                player_id=settled.settlement.player_id,
                bet_id=bet.pk,
                settlement_id=settled.settlement.pk,
                provider=PROVIDER,
                currency=call.currency,
                amount=paid,
                summary=f"betsy settle {call.transaction_id}: {call.amount} {call.currency} owed,"
                f" paid {money.format_money(paid, call.currency)} (rounded up by {paid - call.amount})",
            )
        moved = settled.transaction_ids[-1] if settled.transaction_ids else None
        return Outcome(200, success(str(moved) if moved else f"S{settled.settlement.pk}"), moved)

    key_sql = idempotency.Preload(_SETTLE_KEY, (call.transaction_id, PROVIDER, call.transaction_id, suffix))
    # A settle that pays nothing has no posting to carry its step: the first statement takes the
    # step's id, so that the step rides on the answer's statement (one round trip fewer).
    reply, locked = execute_locked(call, SETTLE, key_sql, content, apply, step_id=paid == 0)
    if reply.replayed and reply.outcome == idempotency.APPLIED and locked is not None:
        _note_stale_settle(call, locked.bet)
    return answer(reply)


def _settle_key(call: BetCall, epoch: int) -> RequestKey:
    return RequestKey(
        PROVIDER, f"{call.transaction_id}:{epoch}:{_amount_key(call.amount)}:{call.result_type}", "settle"
    )


def _note_stale_settle(call: BetCall, bet: Bet) -> None:
    """A replayed settle whose result is no longer the one in force: either a late retry of an
    earlier result (replaying is right) or Betsy correcting back to it (we would be out of sync).
    The two cannot be told apart from the request, so staff get an audit row to compare.
    `bet`: as the replay's statement read it."""
    if bet.payout == money.payable(call.amount, call.currency) and bet.result == call.result_type:
        return
    logger.warning("betsy settle %s replayed while another result is in force", call.transaction_id)
    with transaction.atomic():
        audit_record(
            actor_id=None,
            action="betsy.settle_replayed_not_in_force",
            object_type="wallet.Bet",
            object_id=str(bet.pk),
            reason="A settle identical to an earlier one was answered from storage while another result is"
            " in force: a late retry, or a correction back to that result. Compare with Betsy.",
            data={"amount": str(call.amount), "resultType": call.result_type, "in_force": str(bet.payout)},
        )


# Built once, not per callback (issue #18).
_HANDLERS: dict[str, Callable[[BetCall], Answer]] = {
    PLACE: place_bet,
    SETTLE: settle_bet,
    UNSETTLE: unsettle_bet,
    ROLLBACK: rollback_bet,
}


# --- /payment/check -----------------------------------------------------------------------------

_CHECK_TYPE = {Bet.Status.OPEN: 1, Bet.Status.SETTLED: 2, Bet.Status.ROLLED_BACK: 3}


def check_get(request: CheckRequest) -> Answer:
    """POST /payment/check (§10, observed): the state of a bet, read-only."""
    bet = (
        Bet.objects.filter(provider=PROVIDER, external_id=request.transaction_id, player__external_id=request.user_id)
        .only("external_id", "currency", "stake", "payout", "status", "placed_at")
        .first()
    )
    if bet is None:
        raise BetsyError(Code.VALIDATION, f"transaction {request.transaction_id} not found")
    body = dumps(
        {
            "transactionId": bet.external_id,
            "currency": bet.currency,
            "amount": money_amount(bet.stake, bet.currency),
            "transactionTime": format_time(bet.placed_at),
            "type": _CHECK_TYPE[bet.status],
            "status": bet.status,
            "payout": money_amount(bet.payout, bet.currency),
        }
    )
    return Answer(200, body)


__all__ = ["PROVIDER", "Answer", "bet_execute", "check_get", "code_for", "balance_get", "profile_get"]
