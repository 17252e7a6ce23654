"""Domain postings: the money movements the wallet knows, each one ledger transaction.

These run inside the caller's transaction (a provider callback wraps them in
`idempotency.execute_once`, the operator API likewise) and raise WalletError subclasses on
refusal before they have written anything the caller would keep. The operator's deposits and
withdrawals are in wallet/services/transfers.py, beside their idempotent API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from wallet import events, ledger, limits, rows
from wallet.errors import (
    BetStateError,
    InsufficientFunds,
    InvalidRequest,
    NotReversible,
    PlayerBlocked,
    PlayerSelfExcluded,
)
from wallet.ledger import BONUS, REAL, Leg
from wallet.models import Bet, LedgerTransaction, Player, Settlement
from wallet.selectors import WalletRef, wallet_get
from wallet.services.reversals import Reversed as Reversed  # re-exported: callers reverse through postings
from wallet.services.reversals import _stake_refund
from wallet.services.reversals import transaction_reverse as transaction_reverse

Kind = LedgerTransaction.Kind


def ensure_can_bet(wallet: WalletRef) -> None:
    if wallet.status == Player.Status.SELF_EXCLUDED:
        raise PlayerSelfExcluded(f"player {wallet.external_id} is self-excluded")
    if wallet.status != Player.Status.ACTIVE:
        raise PlayerBlocked(f"player {wallet.external_id} is {wallet.status}")
    # Exclusion, time-out, age and verification; spending limits move with the debit (ledger.post).
    limits.gate(
        who=wallet.external_id,
        self_excluded_until=wallet.self_excluded_until,
        timed_out_until=wallet.timed_out_until,
        jurisdiction=wallet.jurisdiction,
        verification=wallet.verification,
        date_of_birth=wallet.date_of_birth,
    )


# --- Bets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BetPlaced:
    bet: Bet
    transaction_id: int
    stake_real: Decimal
    stake_bonus: Decimal
    balance: Decimal
    bonus_balance: Decimal


def _split(wallet: WalletRef, amount: Decimal, bonus_amount: Decimal | None) -> tuple[Decimal, Decimal]:
    """Real money first, then bonus; or the provider's explicit bonus part."""
    if bonus_amount is not None:
        if bonus_amount > amount:
            raise InvalidRequest("bonus amount exceeds the stake")
        real, bonus = amount - bonus_amount, bonus_amount
    else:
        real = min(wallet.balance, amount)
        bonus = amount - real
    if real > wallet.balance or bonus > wallet.bonus_balance:
        raise InsufficientFunds(f"spendable balance {wallet.spendable} is below {amount}")
    return real, bonus


def bet_place_apply(
    *,
    provider: str,
    external_id: str,
    wallet: WalletRef,
    amount: Decimal,
    bonus_amount: Decimal | None = None,
    odds: Decimal | None = None,
    bet_type: str = Bet.BetType.SINGLE,
    selections: list | None = None,
    brand: str = "",
) -> BetPlaced:
    """Debit a stake and record the bet. Real money first, then bonus (the split is recorded).

    The common case (enough real money) is one guarded UPDATE with no lock held beforehand.
    When bonus money is needed, or a concurrent debit spent the real money between our read
    and our update, the account row is locked and the split computed again on fresh numbers.
    """
    ensure_can_bet(wallet)
    if wallet.spendable < amount:
        raise InsufficientFunds(f"spendable balance {wallet.spendable} is below {amount}")
    real, bonus = _split(wallet, amount, bonus_amount)
    if bonus > 0:
        wallet = wallet_get(external_id=wallet.external_id, currency=wallet.currency, for_update=True)
        real, bonus = _split(wallet, amount, bonus_amount)

    bet = rows.build(  # Bet(...) without Model.__init__: ~20 µs of every bet (issue #18)
        Bet,
        provider=provider,
        external_id=external_id,
        player_id=wallet.player_id,
        brand=brand,
        currency=wallet.currency,
        stake=amount,
        payout=Decimal(0),
        status=Bet.Status.OPEN,
        result="",
        odds=odds,
        bet_type=bet_type,
        selections=selections or [],
    )

    def debit(real: Decimal, bonus: Decimal) -> ledger.Posted:
        # The bet row travels in the posting's statement (ledger.post(bet=…)): one round trip
        # fewer on every bet, and no bet row is written when the funds are not there.
        bet.stake_real, bet.stake_bonus = real, bonus
        return ledger.post(
            kind=Kind.BET,
            currency=wallet.currency,
            player_id=wallet.player_id,
            provider=provider,
            external_id=external_id,
            bet=rows.new_row(bet),
            limited=wallet.limited,
            legs=[
                Leg(wallet.account_id, -real, REAL, tracked=True),
                Leg(wallet.account_id, -bonus, BONUS, tracked=True),
                Leg(ledger.clearing_account_id(provider, wallet.currency), amount),
            ],
        )

    try:
        # A failed guarded UPDATE changes nothing, so falling back below is safe.
        posted = debit(real, bonus)
    except InsufficientFunds:
        if bonus > 0:
            raise  # already computed under the row lock: the money really is not there
        wallet = wallet_get(external_id=wallet.external_id, currency=wallet.currency, for_update=True)
        real, bonus = _split(wallet, amount, bonus_amount)
        posted = debit(real, bonus)
    rows.saved(bet, posted.bet_id)
    events.publish(
        events.WalletEvent(
            kind=events.BET_PLACED,
            player_id=wallet.player_id,
            currency=wallet.currency,
            provider=provider,
            bet_id=bet.pk,
            transaction_ids=(posted.transaction_id,),
            balance_after=posted.spendable,
            moved=-amount,
            is_test=wallet.is_test,
            bet=bet,
            player_external_id=wallet.external_id,
        )
    )
    return BetPlaced(
        bet=bet,
        transaction_id=posted.transaction_id,
        stake_real=real,
        stake_bonus=bonus,
        balance=posted.balances.get((wallet.account_id, REAL), wallet.balance),
        bonus_balance=posted.balances.get((wallet.account_id, BONUS), wallet.bonus_balance),
    )


@dataclass(frozen=True)
class Credited:
    transaction_id: int
    balance: Decimal
    spendable: Decimal | None = None  # real + bonus after the credit (ledger.Posted.spendable)
    step_id: int | None = None  # the settlement step written with it (ledger.Posted.step_id)


def credit_apply(
    *,
    provider: str,
    external_id: str,
    wallet: WalletRef,
    amount: Decimal,
    bet: Bet | None = None,
    step: rows.NewRow | None = None,
    step_update: tuple[str, list[object]] | None = None,
) -> Credited:
    """Pay money to a player from the provider's clearing account. Never refused for status:
    a result for a bet we accepted is owed whatever happened to the player since.

    Publishes nothing: the caller records the settlement step and publishes once it exists
    (bet steps through _apply_step; an unlinked result, RESULT_CREDITED, by its protocol).
    `step`, `step_update`: as in ledger.post (written with the posting when it can)."""
    posted = ledger.post(
        kind=Kind.PAYOUT,
        currency=wallet.currency,
        player_id=wallet.player_id,
        provider=provider,
        external_id=external_id,
        bet_id=bet.pk if bet else None,
        legs=[
            Leg(wallet.account_id, amount, REAL, tracked=True),
            Leg(ledger.clearing_account_id(provider, wallet.currency), -amount),
        ],
        limited=wallet.limited,
        step=step,
        step_update=step_update,
    )
    return Credited(posted.transaction_id, posted.balances[(wallet.account_id, REAL)], posted.spendable, posted.step_id)


# --- Settlement history ------------------------------------------------------------------------


@dataclass(frozen=True)
class SettleResult:
    settlement: Settlement
    transaction_ids: list[int]
    balance: Decimal
    shortfall: Decimal


_EVENT_FOR_SETTLEMENT = {
    Settlement.Kind.SETTLE: events.BET_SETTLED,
    Settlement.Kind.RESETTLE: events.BET_RESETTLED,
    Settlement.Kind.UNSETTLE: events.BET_UNSETTLED,
    Settlement.Kind.ROLLBACK: events.BET_ROLLED_BACK,
    Settlement.Kind.REVERSAL: events.BET_REVERSED,
}


def _latest_payout_id(bet: Bet) -> int | None:
    """The bet's payout transaction in force: the latest one not reversed."""
    row = rows.values(
        "SELECT t.id FROM wallet_ledgertransaction t WHERE t.bet_id = %s AND t.kind = %s AND NOT EXISTS"
        " (SELECT 1 FROM wallet_ledgertransaction r WHERE r.reverses_id = t.id) ORDER BY t.id DESC LIMIT 1",
        [bet.pk, Kind.PAYOUT.value],
    )
    return None if row is None else row[0]


_BET_STATE = ("payout", "result", "status", "settled_at")


def _record_step(settlement: Settlement, bet: Bet) -> None:
    """Insert the step and write the bet's new state: one statement on PostgreSQL; none of its own
    when the step's id was taken beforehand and the transaction's last statement can carry both
    (rows.write_behind: a settle that pays nothing, issue #18)."""
    conn = rows.db()  # looked up once for the three uses (issue #18)
    if conn.vendor != "postgresql":
        rows.insert(settlement)
        rows.update(bet, _BET_STATE)
        return
    update, update_params = rows.update_sql(bet, _BET_STATE, conn)
    if settlement.pk is not None:
        step = rows.new_row(settlement, with_pk=True, conn=conn)
        if rows.hold(f"{step.head} VALUES ({step.values})", step.params):
            rows.hold(update, update_params)  # nothing reads them before: any statement sends them first
            rows.saved(settlement, settlement.pk)
            return
    else:
        step = rows.new_row(settlement, conn=conn)
    (step_id,) = rows.values(
        f"WITH step AS ({step.sql}), step_update AS ({update}) SELECT id FROM step", [*step.params, *update_params]
    )
    rows.saved(settlement, step_id)


def _apply_step(
    bet: Bet,
    *,
    kind: str,
    amount: Decimal,
    result: str,
    status_after: str,
    external_id: str,
    actor_id: int | None,
    refund_stake: bool = False,
    reason: str = "",
    wallet: WalletRef | None = None,
    unsettled_before: bool | None = None,
    prefetched: Mapping[str, tuple] | None = None,
    step_id: int | None = None,
) -> SettleResult:
    """One step of a bet's result history: make `amount` the payout in force (reversing the
    previous payout first, with debt on a shortfall), optionally refund the stake, record the
    step and move the bet to `status_after`. Caller holds the bet's row lock.

    `wallet`: the bet's wallet, when the caller read it under the account's row lock (it is
    then not read again, and a step that moves nothing knows the balance). A step whose only
    movement is a new payout (a first settle that pays) is written with that posting, in one
    statement; otherwise the step and the bet's new state travel together after the postings.
    `unsettled_before`, `prefetched`: passed on in the event (WalletEvent), when the caller knows them.
    `step_id`: the step's id, taken from its sequence by the caller; a step that is not written
    with a payout then rides on the transaction's last statement (`_record_step`)."""
    previous = bet.payout
    why = reason or f"{kind} of bet {bet.external_id}"
    txn_ids: list[int] = []
    primary: int | None = None  # the step's main movement: the new payout, else the refund, else the reversal
    credit_id = refund_id = reversal_id = None
    shortfall = moved = moved_by_reversal = Decimal(0)
    # The real balance (and real + bonus) the last posting left (they run in order, under the
    # account's row lock), so that it need not be read again at the end.
    balance = None if wallet is None else wallet.balance
    spendable = None if wallet is None else wallet.spendable
    settlement = rows.build(
        Settlement,
        {"bet": bet},
        bet_id=bet.pk,
        player_id=bet.player_id,
        kind=kind,
        result=result,
        amount=amount,
        previous_amount=previous,
        status_after=status_after,
        external_id=external_id,
        created_by_id=actor_id,
        id=step_id,
    )
    bet.payout = amount
    bet.result = result
    bet.status = status_after
    bet.settled_at = None if status_after == Bet.Status.OPEN else timezone.now()
    recorded = False
    if amount != previous or refund_stake:
        # A payout of 0 means no payout transaction is in force: skip the lookup.
        prior = _latest_payout_id(bet) if previous > 0 else None
        # Money in before money out: pay the new amount and refund the stake before taking
        # the old payout back, so a correction of winnings the player already spent nets
        # out (10 -> 15 is +5) instead of passing through a debt of the whole old payout.
        if amount > 0:
            if wallet is None:
                wallet = wallet_get(player_id=bet.player_id, currency=bet.currency)
            alone = not refund_stake and prior is None  # the step's only posting: it carries the step
            conn = rows.db() if alone else None  # one lookup for the step and the bet
            step = rows.new_row(settlement, {"transaction_id": ledger.TRANSACTION_ID}, conn=conn) if alone else None
            credited = credit_apply(
                provider=bet.provider,
                external_id=external_id,
                wallet=wallet,
                amount=amount,
                bet=bet,
                step=step,
                step_update=rows.update_sql(bet, _BET_STATE, conn) if alone else None,
            )
            txn_ids.append(credited.transaction_id)
            primary = credit_id = credited.transaction_id
            balance, spendable, moved = credited.balance, credited.spendable, moved + amount
            if credited.step_id is not None:
                settlement.transaction_id = primary
                rows.saved(settlement, credited.step_id)
                recorded = True
        if refund_stake:
            refunded = _stake_refund(bet, reason=why, actor_id=actor_id, external_id=external_id)
            txn_ids.append(refunded.transaction_id)
            primary = primary or refunded.transaction_id
            refund_id = refunded.transaction_id
            balance = refunded.balance if refunded.balance is not None else balance
            spendable, moved = refunded.spendable, moved + refunded.moved
        if prior is not None:
            reversed_ = transaction_reverse(original_id=prior, reason=why, actor_id=actor_id, external_id=external_id)
            txn_ids.append(reversed_.transaction_id)
            primary = primary or reversed_.transaction_id
            reversal_id = reversed_.transaction_id
            shortfall = reversed_.shortfall
            balance = reversed_.balance if reversed_.balance is not None else balance
            spendable, moved_by_reversal = reversed_.spendable, reversed_.moved
            moved += reversed_.moved
    if not recorded:
        settlement.transaction_id = primary
        _record_step(settlement, bet)
    if balance is None:
        balance = wallet_get(player_id=bet.player_id, currency=bet.currency).balance
    events.publish(
        events.event(  # WalletEvent(...) without its __init__, a 24-field frozen dataclass's (issue #18)
            kind=_EVENT_FOR_SETTLEMENT[settlement.kind],
            player_id=bet.player_id,
            currency=bet.currency,
            provider=bet.provider,
            bet_id=bet.pk,
            settlement_id=settlement.pk,
            transaction_ids=tuple(txn_ids),
            amount=settlement.amount,
            previous_amount=settlement.previous_amount,
            balance_after=spendable,
            moved=moved,
            is_test=None if wallet is None else wallet.is_test,
            bet=bet,
            settlement=settlement,
            player_external_id=None if wallet is None else wallet.external_id,
            roles_known=True,
            credit_id=credit_id,
            refund_id=refund_id,
            payout_reversal_id=reversal_id,
            moved_by_reversal=moved_by_reversal,
            unsettled_before=unsettled_before,
            prefetched=prefetched,
        )
    )
    return SettleResult(settlement, txn_ids, balance, shortfall)


def bet_lock(*, provider: str, external_id: str) -> Bet | None:
    """The provider's bet with its row lock taken (None if there is none): for callers that must
    judge a request against the bet before applying it under the same lock."""
    return rows.get(Bet, lock=True, provider=provider, external_id=external_id)


def _lock_bet(bet_id: int, locked: Bet | None = None) -> Bet:
    """The bet with its row lock; `locked`: the bet, when the caller has taken that lock already."""
    bet = locked if locked is not None and locked.pk == bet_id else rows.get(Bet, lock=True, id=bet_id)
    if bet is None:
        raise Bet.DoesNotExist(f"no bet {bet_id}")
    if bet.status == Bet.Status.ROLLED_BACK:
        raise BetStateError(f"bet {bet.external_id} was rolled back")
    return bet


def bet_settle_apply(
    *,
    bet_id: int,
    amount: Decimal,
    result: str = "",
    external_id: str = "",
    kind: str | None = None,
    actor_id: int | None = None,
    locked: Bet | None = None,
    wallet: WalletRef | None = None,
    unsettled_before: bool | None = None,
    prefetched: Mapping[str, tuple] | None = None,
    step_id: int | None = None,
) -> SettleResult:
    """Set a bet's payout to `amount`: the first settlement, or a re-settlement that reverses
    the payout in force and pays the new one, in this one transaction. An unchanged amount
    moves nothing but is still recorded in the bet's history.

    `locked`: the bet, when the caller holds its row lock already; `wallet`, `unsettled_before`,
    `prefetched`, `step_id`: as in _apply_step (what the caller read, so that it is not read again)."""
    bet = _lock_bet(bet_id, locked)
    if kind is None:
        first = bet.status == Bet.Status.OPEN and bet.payout == 0
        kind = Settlement.Kind.SETTLE if first else Settlement.Kind.RESETTLE
    return _apply_step(
        bet,
        kind=kind,
        amount=amount,
        result=result,
        status_after=Bet.Status.SETTLED,
        external_id=external_id,
        actor_id=actor_id,
        wallet=wallet,
        unsettled_before=unsettled_before,
        prefetched=prefetched,
        step_id=step_id,
    )


def bet_unsettle_apply(
    *,
    bet_id: int,
    external_id: str = "",
    actor_id: int | None = None,
    locked: Bet | None = None,
    wallet: WalletRef | None = None,
    prefetched: Mapping[str, tuple] | None = None,
) -> SettleResult:
    """Take back the payout in force and return the bet to open (a result was withdrawn).

    `locked`, `wallet`, `prefetched`: as in bet_settle_apply (what the caller read under the
    bet's and the account's row locks, so that it is not read again)."""
    bet = _lock_bet(bet_id, locked)
    return _apply_step(
        bet,
        kind=Settlement.Kind.UNSETTLE,
        amount=Decimal(0),
        result="",
        status_after=Bet.Status.OPEN,
        external_id=external_id,
        actor_id=actor_id,
        wallet=wallet,
        prefetched=prefetched,
    )


def bet_rollback_apply(
    *,
    bet_id: int,
    external_id: str = "",
    actor_id: int | None = None,
    locked: Bet | None = None,
    wallet: WalletRef | None = None,
    prefetched: Mapping[str, tuple] | None = None,
) -> SettleResult:
    """Cancel a bet: take back any payout in force, refund the stake (real and bonus as debited).

    `locked`: the bet, when the caller has already taken its row lock (`bet_lock`). `wallet`: the
    bet's wallet as the caller read it (a rollback always moves money, so its balance comes from
    the postings; the event takes the player's `is_test` and external id from it). `prefetched`:
    as in bet_settle_apply."""
    bet = locked if locked is not None and locked.pk == bet_id else _lock_bet(bet_id)
    if bet.status == Bet.Status.ROLLED_BACK:
        raise BetStateError(f"bet {bet.external_id} was rolled back")
    return _apply_step(
        bet,
        kind=Settlement.Kind.ROLLBACK,
        amount=Decimal(0),
        result=bet.result,
        status_after=Bet.Status.ROLLED_BACK,
        external_id=external_id,
        actor_id=actor_id,
        refund_stake=True,
        wallet=wallet
        if wallet is not None and (wallet.player_id, wallet.currency) == (bet.player_id, bet.currency)
        else None,
        prefetched=prefetched,
    )


def settlement_reverse_apply(*, settlement_id: int, actor_id: int | None, reason: str) -> SettleResult:
    """Staff reversal of a bet's latest result step: the bet returns to the state the step
    found it in (payout, result, open or settled), by compensating entries only.

    Reversing a settle of a won bet takes the payout back (debt on a shortfall) and reopens
    the bet; a lost bet just reopens; a re-settlement restores the earlier payout; an unsettle
    pays the withdrawn payout again. Rollbacks and earlier reversals are final.
    """
    step = Settlement.objects.select_related("bet").get(pk=settlement_id)
    if step.bet_id is None:
        raise NotReversible("this result is not linked to a bet; reverse its ledger transaction instead")
    bet = _lock_bet(step.bet_id)
    latest = bet.settlements.order_by("-id").first()
    if latest is None or latest.pk != step.pk:
        raise NotReversible("only the bet's latest result step can be reversed")
    if step.kind in (Settlement.Kind.ROLLBACK, Settlement.Kind.REVERSAL, Settlement.Kind.RESULT):
        raise NotReversible(f"a {step.get_kind_display().lower()} cannot be reversed")
    before = bet.settlements.filter(id__lt=step.pk).order_by("-id").first()
    status_before = before.status_after if before and before.status_after else Bet.Status.OPEN
    result_before = before.result if before and status_before == Bet.Status.SETTLED else ""
    return _apply_step(
        bet,
        kind=Settlement.Kind.REVERSAL,
        amount=step.previous_amount,
        result=result_before,
        status_after=status_before,
        external_id="",
        actor_id=actor_id,
        reason=f"staff reversal of step {step.pk}: {reason}",
    )
