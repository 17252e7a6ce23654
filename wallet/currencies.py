"""Currencies the wallet accepts and their precision (decimal places).

The ledger stores NUMERIC(30, 8); a currency may use fewer places, never more.
Adding a currency is a one-line change here plus nothing else.
"""

from __future__ import annotations

from decimal import Decimal

LEDGER_SCALE = 8
LEDGER_MAX_DIGITS = 30

CURRENCIES: dict[str, int] = {
    # fiat
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "BGN": 2,
    "TRY": 2,
    "BRL": 2,
    "MXN": 2,
    "ARS": 2,
    "CLP": 0,
    "COP": 2,
    "PEN": 2,
    "INR": 2,
    "ZAR": 2,
    "NGN": 2,
    "KES": 2,
    "JPY": 0,
    "KRW": 0,
    "UAH": 2,
    "KZT": 2,
    "GEL": 2,
    # crypto (the ledger scale caps them at 8 places)
    "BTC": 8,
    "ETH": 8,
    "LTC": 8,
    "USDT": 6,
    "USDC": 6,
    "TRX": 6,
    "DOGE": 8,
}
# The currencies as (code, code) choices, sorted: the OpenAPI schema names them CurrencyEnum.
CURRENCY_CHOICES = [(code, code) for code in sorted(CURRENCIES)]


def is_supported(code: str) -> bool:
    return code in CURRENCIES


def precision(code: str) -> int:
    return CURRENCIES[code]


def quantum(code: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCIES[code])
