"""IGPX callbacks as wallet operations: each one applied once, through the ledger.

`transaction_process` (bet/result) and `rollback_process` compose
`idempotency.execute_once` with the posting services. Bets, results and rollbacks share one
idempotency namespace (operation "tx"), so an id reused across actions is a conflict.

Our transaction ids (the `transaction_id` we answer with, unique as the seed requires):
- `T<n>`: the ledger transaction that moved the money (bet stake, result payout, reversal);
- `S<n>`: the settlement row of a callback that moved nothing (a zero result, a rollback of
  an unknown, declined or already rolled-back transaction);
- `V-<provider id>`: a result that arrived after its own rollback (never credited).

Results and rollbacks are never refused in a way a retry cannot fix (docs/CALLBACKS.md): a
result finer than its currency is paid rounded up and flagged; a rollback that disagrees with
its target undoes exactly what the target moved and is flagged; a refusal that stands is the
same answer on every retry and one review item for staff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from config.logthrottle import Throttled
from wallet import events, ledger, money, rows
from wallet.errors import (
    AlreadyRolledBack,
    CurrencyMismatch,
    InvalidRequest,
    PlayerBlocked,
    PlayerNotFound,
    PlayerSelfExcluded,
    WalletError,
)
from wallet.igpx import protocol
from wallet.igpx.protocol import BET, PROVIDER, RESULT, IgpxError
from wallet.models import Account, Bet, IdempotencyRecord, LedgerTransaction, Player, ReviewItem, Settlement
from wallet.selectors import WalletRef, wallet_from_row, wallet_query
from wallet.services import idempotency, postings, refusals, reviews
from wallet.services.idempotency import Outcome, Reply, RequestKey

logger = logging.getLogger("touchline.wallet.igpx")
_refusals = Throttled(logger)  # a refusal that is not stored comes back with every retry

OPERATION = "tx"  # one namespace for bet, result and rollback ids (protocols/igpx.md §4)

APPLIED = IdempotencyRecord.Outcome.APPLIED.value
DECLINED = IdempotencyRecord.Outcome.DECLINED.value
TOMBSTONE = IdempotencyRecord.Outcome.TOMBSTONE.value


class _NotStored(Exception):
    """A refusal that must not be stored as the request's answer, so a retry can succeed.

    Results and rollbacks must eventually succeed: if one names a player or wallet we do not
    know (yet), we refuse without storing, and the provider's retry runs afresh once staff have
    fixed the account. execute_once rolls back and re-raises any non-wallet exception.
    """

    def __init__(self, error: WalletError) -> None:
        super().__init__(error.message)
        self.error = error


def key_for(transaction_id: str) -> RequestKey:
    return RequestKey(PROVIDER, transaction_id, OPERATION)


def _ledger_id(transaction_id: int) -> str:
    return f"T{transaction_id}"


def _settlement_id(settlement: Settlement) -> str:
    return f"S{settlement.pk}"


def _success(our_id: str, transaction_id: int | None = None) -> Outcome:
    return Outcome(status=200, body=protocol.render_success(our_id), transaction_id=transaction_id)


def _preload(user_id: str, currency: str) -> idempotency.Preload:
    sql, params = wallet_query(external_id=user_id, currency=currency)
    return idempotency.Preload(sql, params)


def _wallet(row: tuple | None, user_id: str, currency: str, *, store_refusal: bool) -> WalletRef:
    try:
        return wallet_from_row(row, who=user_id, currency=currency)
    except (PlayerNotFound, CurrencyMismatch) as error:
        if store_refusal:
            raise
        raise _NotStored(error) from None


def _error_renderer(action: str, provider_id: str, seen: list[WalletError]) -> Callable[[WalletError], tuple[int, str]]:
    def render(error: WalletError) -> tuple[int, str]:
        seen.append(error)
        if isinstance(error, AlreadyRolledBack) and action == RESULT:
            # The provider rolled this result back before we saw it: the net effect it wants is
            # zero, and a result must be answered with success. Nothing is credited.
            logger.warning("igpx result %s arrived after its rollback: answered, not credited", provider_id)
            return 200, protocol.render_success(f"V-{provider_id}")
        if isinstance(error, AlreadyRolledBack) and action == protocol.ROLLBACK:
            return 200, protocol.render_error(protocol.INVALID_REQUEST)  # a rollback of a rollback
        return 200, protocol.render_error(protocol.code_for(error))

    return render


def _finish(reply: Reply, request: protocol.Transaction | protocol.Rollback, seen: list[WalletError]) -> str:
    """Log what staff must see; a result or rollback declined for good is also flagged once."""
    if reply.outcome == "conflict":
        logger.error("igpx %s %s: transaction_id reused with different content", request.action, request.transaction_id)
    elif reply.outcome == DECLINED and not reply.replayed:
        error = seen[-1] if seen else None
        if request.action == BET:
            logger.info("igpx bet %s declined: %s", request.transaction_id, error)
        else:  # results and rollbacks must succeed: this one needs a human
            logger.error("igpx %s %s declined: %s", request.action, request.transaction_id, error)
            refusals.refused(PROVIDER, request.action, request.transaction_id, str(error))
    return reply.body


def _not_stored(request: protocol.Transaction | protocol.Rollback, refusal: _NotStored) -> IgpxError:
    """A result or rollback for a player or wallet we do not know (yet): a retry succeeds once
    staff have fixed the account, so it is not stored, and staff are told once."""
    _refusals.error(
        request.transaction_id, "igpx %s %s refused, not stored: %s", request.action, request.transaction_id, refusal
    )
    refusals.refused(PROVIDER, request.action, request.transaction_id, refusal.error.message)
    return IgpxError(protocol.code_for(refusal.error), refusal.error.message)


# --- /transaction ----------------------------------------------------------------------------


def _bet_apply(request: protocol.Transaction, row: tuple | None) -> Outcome:
    wallet = _wallet(row, request.user_id, request.currency, store_refusal=True)
    placed = postings.bet_place_apply(
        provider=PROVIDER, external_id=request.transaction_id, wallet=wallet, amount=request.amount
    )
    return _success(_ledger_id(placed.transaction_id), placed.transaction_id)


def _result_apply(request: protocol.Transaction, row: tuple | None) -> Outcome:
    """Credit a result: an unlinked payout (the seed gives no bet reference), never refused for
    the player's status. The Settlement row is the record staff and the CRM export follow."""
    wallet = _wallet(row, request.user_id, request.currency, store_refusal=False)
    paid = money.payable(request.amount, request.currency)  # the amount itself unless finer than the currency
    settlement = rows.build(  # Settlement(bet=None, ...) without Model.__init__ (issue #18)
        Settlement,
        {"bet": None},
        bet_id=None,
        player_id=wallet.player_id,
        kind=Settlement.Kind.RESULT,
        result="paid" if paid > 0 else "lost",
        amount=paid,
        external_id=request.transaction_id,
        transaction_id=None,
    )
    transaction_id = spendable = None
    if paid > 0:
        # The settlement row travels in the payout's own statement where it can (ledger.post(step=…)).
        credited = postings.credit_apply(
            provider=PROVIDER,
            external_id=request.transaction_id,
            wallet=wallet,
            amount=paid,
            step=rows.new_row(settlement, {"transaction_id": ledger.TRANSACTION_ID}),
        )
        transaction_id, spendable = credited.transaction_id, credited.spendable
        settlement.transaction_id = transaction_id
        if credited.step_id is not None:
            rows.saved(settlement, credited.step_id)
    if settlement.pk is None:
        rows.insert(settlement)
    # Published once the settlement exists, so subscribers (CRM export, review queue) can
    # follow it; a lost bet (nothing moved) is news too.
    events.publish(
        events.WalletEvent(
            kind=events.RESULT_CREDITED,
            player_id=wallet.player_id,
            currency=wallet.currency,
            provider=PROVIDER,
            settlement_id=settlement.pk,
            transaction_ids=(transaction_id,) if transaction_id else (),
            balance_after=spendable,
            moved=paid,
            is_test=wallet.is_test,
            settlement=settlement,
            player_external_id=wallet.external_id,
        )
    )
    if paid != request.amount:
        reviews.review_flag(
            kind=ReviewItem.Kind.ROUNDED_PAYOUT,
            player_id=wallet.player_id,
            settlement_id=settlement.pk,
            provider=PROVIDER,
            currency=request.currency,
            amount=paid,
            summary=f"igpx result {request.transaction_id}: {request.amount} {request.currency} owed,"
            f" paid {money.format_money(paid, request.currency)} (rounded up by {paid - request.amount})",
        )
    if transaction_id is None:
        return _success(_settlement_id(settlement))
    return _success(_ledger_id(transaction_id), transaction_id)


def transaction_process(*, request: protocol.Transaction, raw: str = "") -> str:
    """Apply a bet or a result once; return the response body (always sent with HTTP 200)."""
    apply = _bet_apply if request.action == BET else _result_apply
    seen: list[WalletError] = []
    try:
        reply = idempotency.execute_once(
            key=key_for(request.transaction_id),
            content=request.canonical(),
            apply=lambda row: apply(request, row),
            render_error=_error_renderer(request.action, request.transaction_id, seen),
            request_body=raw,
            preload=_preload(request.user_id, request.currency),
        )
    except _NotStored as refusal:
        raise _not_stored(request, refusal) from None
    return _finish(reply, request, seen)


# --- /transaction-rollback -------------------------------------------------------------------


def _rollback_record(
    request: protocol.Rollback,
    player_id: int,
    *,
    bet: Bet | None = None,
    previous: Decimal = Decimal(0),
    transaction_id: int | None = None,
) -> Settlement:
    return rows.insert(
        rows.build(  # Settlement(bet=bet, ...) without Model.__init__
            Settlement,
            {"bet": bet},
            bet_id=None if bet is None else bet.pk,
            player_id=player_id,
            kind=Settlement.Kind.ROLLBACK,
            amount=Decimal(0),
            previous_amount=previous,
            external_id=request.transaction_id,
            transaction_id=transaction_id,
        )
    )


def _noop_rollback(request: protocol.Rollback, player_id: int, bet: Bet | None = None) -> Outcome:
    """A rollback that moves nothing is still recorded, so staff can see it arrived."""
    return _success(_settlement_id(_rollback_record(request, player_id, bet=bet)))


def _check_target(
    request: protocol.Rollback,
    wallet: WalletRef | None,
    player_id: int,
    currency: str | None,
    amount: Decimal,
    bet: Bet | None = None,
) -> None:
    """A rollback should name its target's player, currency (when known) and amount (§3.4).

    When it does not, the target is still undone exactly as it moved (the rollback names the
    transaction; refusing would strand the money, the provider retrying forever) and staff get
    a review item with the disagreement. Runs inside the rollback's transaction.
    """
    problems = []
    if wallet is None:
        problems.append(f"user_id {request.user_id} with no {request.currency} wallet")
    elif player_id != wallet.player_id:
        problems.append(f"user_id {request.user_id}")
    if currency is not None and currency != request.currency:
        problems.append(f"currency {request.currency} vs {currency}")
    known = currency or request.currency
    if money.payable(request.amount, known) != amount:
        problems.append(f"amount {request.amount} vs {money.format_money(amount, known)}")
    if problems:
        logger.warning("igpx rollback %s: %s", request.transaction_id, "; ".join(problems))
        reviews.review_flag(
            kind=ReviewItem.Kind.ROLLBACK_MISMATCH,
            player_id=player_id,
            bet=bet,
            provider=PROVIDER,
            currency=known,
            amount=amount,
            summary=f"igpx rollback {request.transaction_id} of {request.rollback_transaction_id} undid what"
            f" moved; it said {'; '.join(problems)}",
        )


def _rollback_bet(request: protocol.Rollback, wallet: WalletRef | None, bet: Bet) -> Outcome:
    """`bet` is locked (postings.bet_lock): the row lock serialises two rollbacks of one bet."""
    _check_target(request, wallet, bet.player_id, bet.currency, bet.stake, bet)
    if bet.status == Bet.Status.ROLLED_BACK:
        return _noop_rollback(request, bet.player_id, bet)
    result = postings.bet_rollback_apply(bet_id=bet.pk, external_id=request.transaction_id, locked=bet, wallet=wallet)
    refund_id = result.transaction_ids[-1]
    return _success(_ledger_id(refund_id), refund_id)


def _rollback_result(request: protocol.Rollback, wallet: WalletRef | None, record: IdempotencyRecord) -> Outcome:
    """Take back a result's payout; what the player no longer has becomes debt (DESIGN.md)."""
    original = LedgerTransaction.objects.select_for_update(no_key=True).get(pk=record.transaction_id)
    paid = Settlement.objects.get(transaction_id=original.pk, kind=Settlement.Kind.RESULT)
    _check_target(request, wallet, original.player_id, original.currency, paid.amount)
    if LedgerTransaction.objects.filter(reverses_id=original.pk).exists():
        return _success(_settlement_id(_rollback_record(request, original.player_id)))
    reversed_ = postings.transaction_reverse(
        original_id=original.pk,
        reason=f"igpx rollback {request.transaction_id} of result {request.rollback_transaction_id}",
        external_id=request.transaction_id,
    )
    settlement = _rollback_record(
        request, original.player_id, previous=paid.amount, transaction_id=reversed_.transaction_id
    )
    if reversed_.shortfall > 0:
        logger.warning(
            "igpx rollback %s of result %s: player %s owes %s %s (debt recorded for staff)",
            request.transaction_id,
            request.rollback_transaction_id,
            original.player_id,
            reversed_.shortfall,
            original.currency,
        )
    events.publish(
        events.WalletEvent(
            kind=events.TRANSACTION_REVERSED,
            player_id=original.player_id,
            currency=original.currency,
            provider=PROVIDER,
            settlement_id=settlement.pk,
            transaction_ids=(reversed_.transaction_id,),
            amount=Decimal(0),
            previous_amount=paid.amount,  # the payout taken back
            settlement=settlement,
        )
    )
    return _success(_ledger_id(reversed_.transaction_id), reversed_.transaction_id)


def _settlement_of(record: IdempotencyRecord) -> Settlement | None:
    """The settlement behind an applied callback that moved no money (its answer is `S<n>`)."""
    try:
        our_id = protocol.parse_response(record.response).get("transaction_id")
    except (ValueError, IgpxError):
        return None
    if isinstance(our_id, str) and our_id.startswith("S") and our_id[1:].isdigit():
        return Settlement.objects.filter(pk=int(our_id[1:])).first()
    return None


def _rollback_apply(request: protocol.Rollback, row: tuple | None) -> Outcome:
    try:
        wallet: WalletRef | None = _wallet(row, request.user_id, request.currency, store_refusal=False)
        missing: _NotStored | None = None
    except _NotStored as refusal:
        # A known target names its own player: it is undone even if user_id or currency names
        # no wallet (and staff are told). Only a rollback with nothing to undo needs the wallet.
        wallet, missing = None, refusal

    def own_player() -> int:
        if wallet is None:
            assert missing is not None
            raise missing
        return wallet.player_id

    target_key = key_for(request.rollback_transaction_id)
    # The target's bet, if it is one, is read and locked in the same statement (rows.select_sql).
    bet_sql, _ = rows.select_sql(Bet, ("provider", "external_id"), lock=True)
    record, bet_row = idempotency.tombstone_or_find(
        target_key, idempotency.Preload(bet_sql, (PROVIDER, request.rollback_transaction_id))
    )
    if record is None:
        # The target never arrived: remember it so it can never apply, move nothing (seed).
        logger.info(
            "igpx rollback %s: %s unknown, tombstone placed", request.transaction_id, request.rollback_transaction_id
        )
        return _noop_rollback(request, own_player())
    if record.outcome in (TOMBSTONE, DECLINED):
        # Already cancelled by an earlier rollback, or never applied: nothing to undo.
        return _noop_rollback(request, own_player())
    if record.outcome != APPLIED:
        raise InvalidRequest(f"{request.rollback_transaction_id} is not a completed transaction")

    if record.transaction_id is not None:
        # Bet, result and rollback ids share one namespace: a bet row under this id is the target.
        if bet_row is not None:
            bet = rows.instance(Bet, bet_row)
        else:
            bet = postings.bet_lock(provider=PROVIDER, external_id=request.rollback_transaction_id)
        if bet is not None:
            return _rollback_bet(request, wallet, bet)
        (kind,) = rows.values("SELECT kind FROM wallet_ledgertransaction WHERE id = %s", [record.transaction_id])
        if kind == LedgerTransaction.Kind.PAYOUT:
            return _rollback_result(request, wallet, record)
        raise InvalidRequest(f"{request.rollback_transaction_id} is a rollback: rollbacks cannot be rolled back")

    settlement = _settlement_of(record)
    if settlement is not None and settlement.kind == Settlement.Kind.RESULT:
        # A zero result: undoing it moves nothing, but the request must still match it. (Its
        # currency is not recorded anywhere: a settlement row has none.)
        _check_target(request, wallet, settlement.player_id, None, settlement.amount)
        return _noop_rollback(request, settlement.player_id)
    raise InvalidRequest(f"{request.rollback_transaction_id} is a rollback: rollbacks cannot be rolled back")


def rollback_process(*, request: protocol.Rollback, raw: str = "") -> str:
    """Apply a rollback once; return the response body (always sent with HTTP 200)."""
    seen: list[WalletError] = []
    try:
        reply = idempotency.execute_once(
            key=key_for(request.transaction_id),
            content=request.canonical(),
            apply=lambda row: _rollback_apply(request, row),
            render_error=_error_renderer(protocol.ROLLBACK, request.transaction_id, seen),
            request_body=raw,
            preload=_preload(request.user_id, request.currency),
        )
    except _NotStored as refusal:
        raise _not_stored(request, refusal) from None
    return _finish(reply, request, seen)


# --- Session launch (operator API: POST /api/operator/players/<id>/sessions/igpx/) -----------


def session_launch(player: Player, options: dict[str, Any]) -> dict[str, Any]:
    """Start an IGPX session for `player` and return the iframe URL.

    `options`: `currency` (default: the player's first wallet) and `lang` (optional). Runs
    outside any database transaction: it calls the provider.
    """
    from wallet.igpx.client import get_client  # the client pulls httpx; keep callbacks lean

    if not isinstance(options, dict):
        raise InvalidRequest("options must be a JSON object")
    currency = options.get("currency")
    lang = options.get("lang")
    if lang is not None and (not isinstance(lang, str) or not 2 <= len(lang) <= 8):
        raise InvalidRequest("lang must be a language code such as 'en'")
    wallets = list(Account.objects.filter(player=player, kind=Account.Kind.PLAYER).order_by("id"))
    if currency is None:
        if not wallets:
            raise CurrencyMismatch(f"player {player.external_id} has no wallet")
        currency = wallets[0].currency
    if not isinstance(currency, str) or currency not in {w.currency for w in wallets}:
        raise CurrencyMismatch(f"player {player.external_id} has no {currency} wallet")
    # Sessions exist to bet; a blocked or self-excluded player has no business opening one.
    if player.status == Player.Status.SELF_EXCLUDED:
        raise PlayerSelfExcluded(f"player {player.external_id} is self-excluded")
    if player.status != Player.Status.ACTIVE:
        raise PlayerBlocked(f"player {player.external_id} is {player.status}")
    url = get_client().start_session(user_id=player.external_id, currency=currency, lang=lang)
    return {"provider": PROVIDER, "url": url, "user_id": player.external_id, "currency": currency, "lang": lang}
