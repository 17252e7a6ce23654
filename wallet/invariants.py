"""Ledger invariants, checked on a whole database by `manage.py check_ledger` and after tests.

Each check is one SQL query that returns the offending rows (none when the ledger is sound),
so it runs in seconds on millions of entries and names exactly what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from wallet.currencies import CURRENCIES


@dataclass
class Violation:
    check: str
    detail: str


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


def _ne(a: str, b: str) -> str:
    """`a <> b` for money; SQLite (the demo) sums in binary floating point, so allow its noise."""
    if connection.vendor == "postgresql":
        return f"{a} <> {b}"
    return f"ABS(({a}) - ({b})) > 0.000000005"


def _checks() -> list[tuple[str, str, str]]:
    """(name, description, SQL returning the offending rows)."""
    return [
        (
            "transactions_balance",
            "every transaction's entries sum to zero",
            "SELECT t.id, COALESCE(SUM(e.amount), 0) FROM wallet_ledgertransaction t"
            " LEFT JOIN wallet_ledgerentry e ON e.transaction_id = t.id"
            f" GROUP BY t.id HAVING {_ne('COALESCE(SUM(e.amount), 0)', '0')} OR COUNT(e.id) < 2",
        ),
        (
            "entries_match_currency",
            "every entry's account is in its transaction's currency",
            "SELECT e.id, t.currency, a.currency FROM wallet_ledgerentry e"
            " JOIN wallet_ledgertransaction t ON t.id = e.transaction_id"
            " JOIN wallet_account a ON a.id = e.account_id WHERE a.currency <> t.currency",
        ),
        (
            "balances_match_entries",
            "every player balance equals the sum of its entries, bucket by bucket",
            "SELECT a.id, a.balance, a.bonus_balance, a.debt_balance, s.r, s.b, s.d FROM wallet_account a"
            " LEFT JOIN (SELECT account_id,"
            "   SUM(CASE WHEN bucket = 'real' THEN amount ELSE 0 END) AS r,"
            "   SUM(CASE WHEN bucket = 'bonus' THEN amount ELSE 0 END) AS b,"
            "   SUM(CASE WHEN bucket = 'debt' THEN amount ELSE 0 END) AS d"
            "   FROM wallet_ledgerentry GROUP BY account_id) s ON s.account_id = a.id"
            f" WHERE a.kind = 'player' AND ({_ne('a.balance', 'COALESCE(s.r, 0)')}"
            f" OR {_ne('a.bonus_balance', 'COALESCE(s.b, 0)')} OR {_ne('a.debt_balance', 'COALESCE(s.d, 0)')})",
        ),
        (
            "no_negative_player_balance",
            "no player balance is negative and no debt is positive",
            "SELECT id, balance, bonus_balance, debt_balance FROM wallet_account"
            " WHERE kind = 'player' AND (balance < 0 OR bonus_balance < 0 OR debt_balance > 0)",
        ),
        (
            "house_buckets",
            "house accounts only use the real bucket and keep no running balance",
            "SELECT e.id, a.kind, e.bucket FROM wallet_ledgerentry e JOIN wallet_account a ON a.id = e.account_id"
            " WHERE a.kind <> 'player' AND e.bucket <> 'real'",
        ),
        (
            "bet_stake_split",
            "every bet's stake equals its real plus bonus parts",
            f"SELECT id, stake, stake_real, stake_bonus FROM wallet_bet WHERE {_ne('stake', 'stake_real + stake_bonus')}"
            " OR stake_real < 0 OR stake_bonus < 0",
        ),
        (
            "reversals_mirror",
            "every reversal moves the same total per account as its original, opposite in sign",
            "SELECT r.id, r.reverses_id FROM wallet_ledgertransaction r"
            " JOIN wallet_ledgertransaction o ON o.id = r.reverses_id"
            " WHERE r.currency <> o.currency OR r.kind <> 'reversal'"
            " UNION ALL"
            " SELECT r.id, r.reverses_id FROM wallet_ledgertransaction r"
            " JOIN wallet_ledgerentry e ON e.transaction_id = r.id OR e.transaction_id = r.reverses_id"
            " WHERE r.reverses_id IS NOT NULL GROUP BY r.id, r.reverses_id, e.account_id"
            f" HAVING {_ne('SUM(e.amount)', '0')}",
        ),
        (
            "no_pending_requests",
            "no committed provider request is left half-done",
            "SELECT id, provider, external_id, operation FROM wallet_idempotencyrecord WHERE outcome = 'pending'",
        ),
    ]


def _precision_check_sql() -> str:
    """Entries finer than their currency: amount * 10^places must be a whole number."""
    multiplier = "CASE t.currency " + " ".join(f"WHEN '{c}' THEN {10**p}" for c, p in CURRENCIES.items())
    multiplier += " ELSE 100000000 END"
    scaled = f"e.amount * ({multiplier})"
    if connection.vendor == "postgresql":
        condition = f"{scaled} <> ROUND({scaled}, 0)"
    else:  # SQLite computes in binary floating point: allow for its rounding noise
        condition = f"ABS({scaled} - ROUND({scaled}, 0)) > 0.0000001"
    return (
        "SELECT e.id, t.currency, e.amount FROM wallet_ledgerentry e"
        f" JOIN wallet_ledgertransaction t ON t.id = e.transaction_id WHERE {condition}"
    )


def check_ledger(*, limit: int = 20) -> Report:
    report = Report()
    checks = _checks() + [("currency_precision", "no entry is finer than its currency", _precision_check_sql())]
    with connection.cursor() as cursor:
        for name, description, sql in checks:
            report.checked.append(f"{name}: {description}")
            cursor.execute(sql)
            rows = cursor.fetchmany(limit)
            for row in rows:
                report.violations.append(Violation(name, ", ".join(str(v) for v in row)))
        # The whole ledger sums to zero per currency too (implied by per-transaction balance,
        # checked separately because it is the number finance asks for).
        cursor.execute(
            "SELECT t.currency, SUM(e.amount) FROM wallet_ledgerentry e JOIN wallet_ledgertransaction t"
            " ON t.id = e.transaction_id GROUP BY t.currency"
        )
        for currency, total in cursor.fetchall():
            if abs(Decimal(str(total))) > Decimal("0.000000005"):
                report.violations.append(Violation("ledger_total", f"{currency} entries sum to {total}"))
        report.checked.append("ledger_total: all entries sum to zero per currency")
        for table in ("wallet_ledgertransaction", "wallet_ledgerentry", "wallet_account"):
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            report.stats[table] = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM wallet_debt WHERE status = 'open'")
        count, _ = cursor.fetchone()
        report.stats["open_debts"] = count
    return report
