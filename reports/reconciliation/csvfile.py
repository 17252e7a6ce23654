"""Protocol: read a provider's transaction export, streaming, validating every line.

Column mapping is configuration (REPORT_RECONCILIATION_COLUMNS, JSON, merged over the defaults
below). Each provider maps our six fields to its headers and
its type words to our types: bet, settle, resettle, unsettle, rollback.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import BinaryIO

from reports import conf
from wallet import currencies
from wallet.errors import WalletError
from wallet.money import parse_amount

FIELDS = ("transaction_id", "type", "player", "currency", "amount", "time")
TYPES = ("bet", "settle", "resettle", "unsettle", "rollback")

# Defaults follow the names in each provider's own callbacks (docs/igpx.md, docs/betsy.md).
DEFAULT_MAPPINGS: dict[str, dict] = {
    "igpx": {
        "columns": {
            "transaction_id": "transaction_id",
            "type": "action",
            "player": "user_id",
            "currency": "currency",
            "amount": "amount",
            "time": "created_at",
        },
        "types": {"bet": "bet", "result": "settle", "rollback": "rollback"},
    },
    "betsy": {
        "columns": {
            "transaction_id": "transactionId",
            "type": "type",
            "player": "userId",
            "currency": "currency",
            "amount": "amount",
            "time": "createdAt",
        },
        # Betsy's numeric request types (1 place, 2 settle, 3 rollback) and their words.
        "types": {
            "1": "bet",
            "place": "bet",
            "bet": "bet",
            "2": "settle",
            "settle": "settle",
            "resettle": "resettle",
            "unsettle": "unsettle",
            "3": "rollback",
            "rollback": "rollback",
        },
    },
}


class FileRefused(Exception):
    """The file cannot be reconciled; the message names the line and what to fix."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class Mapping:
    provider: str
    columns: dict[str, str]
    types: dict[str, str]


def mapping_for(provider: str) -> Mapping:
    configured = conf.reconciliation_columns()
    base = DEFAULT_MAPPINGS.get(provider, {"columns": {f: f for f in FIELDS}, "types": {t: t for t in TYPES}})
    override = configured.get(provider, {})
    columns = {**base["columns"], **override.get("columns", {})}
    types = {str(k).lower(): v for k, v in {**base["types"], **override.get("types", {})}.items()}
    bad = sorted(set(types.values()) - set(TYPES))
    if bad:
        raise FileRefused(
            f"REPORT_RECONCILIATION_COLUMNS[{provider!r}] maps to unknown types {bad}; use {', '.join(TYPES)}"
        )
    return Mapping(provider, columns, types)


def providers() -> list[str]:
    configured = conf.reconciliation_columns()
    return sorted(set(DEFAULT_MAPPINGS) | set(configured))


@dataclass(frozen=True, slots=True)
class TheirLine:
    line: int
    transaction_id: str
    type: str  # ours: bet, settle, resettle, unsettle, rollback
    raw_type: str
    player: str
    currency: str
    amount: Decimal
    time: datetime | None


def count_lines(stream: BinaryIO) -> int:
    """Data lines (for the progress bar), counted on the bytes; the stream is rewound."""
    stream.seek(0)
    total = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    stream.seek(0)
    return max(total - 1, 0)


def read(stream: BinaryIO, mapping: Mapping) -> Iterator[TheirLine]:
    """Yield each data line, validated; raise FileRefused naming the first bad line.

    Duplicate (transaction id, type) pairs are refused: a provider transaction is one line."""
    reader = csv.reader(_decoded(stream))
    try:
        header = next(reader)
    except StopIteration:
        raise FileRefused("the file is empty: expected a header line", 1) from None
    header = [h.strip() for h in header]
    missing = [mapping.columns[f] for f in FIELDS if mapping.columns[f] not in header]
    if missing:
        raise FileRefused(
            f"missing column(s) {', '.join(missing)} for {mapping.provider}; the header has {', '.join(header)}."
            " Fix the export or the provider's column mapping (REPORT_RECONCILIATION_COLUMNS).",
            1,
        )
    index = {f: header.index(mapping.columns[f]) for f in FIELDS}
    width = len(header)
    seen: dict[tuple[str, str], int] = {}
    for cells in reader:
        number = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != width:
            raise FileRefused(f"{len(cells)} fields, the header has {width}", number)
        yield _line(cells, index, mapping, number, seen)


def _decoded(stream: BinaryIO) -> Iterator[str]:
    """Physical lines decoded one by one, so a bad byte is reported on its own line (a newline
    byte never occurs inside a UTF-8 sequence)."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileRefused(
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); export the file as UTF-8",
                number,
            ) from None


def _line(cells: list[str], index: dict[str, int], mapping: Mapping, number: int, seen: dict) -> TheirLine:
    txn_id = cells[index["transaction_id"]].strip()
    if not txn_id:
        raise FileRefused("the transaction id is empty", number)
    raw_type = cells[index["type"]].strip()
    our_type = mapping.types.get(raw_type.lower())
    if our_type is None:
        known = ", ".join(sorted(mapping.types))
        raise FileRefused(f"unknown type {raw_type!r} (known for {mapping.provider}: {known})", number)
    key = (txn_id, our_type)
    if key in seen:
        raise FileRefused(f"duplicate transaction id {txn_id!r} ({our_type}), first on line {seen[key]}", number)
    seen[key] = number
    currency = cells[index["currency"]].strip()
    if not currencies.is_supported(currency):
        raise FileRefused(f"unknown currency {currency!r}", number)
    try:
        amount = parse_amount(cells[index["amount"]].strip(), currency, allow_zero=True)
    except WalletError as exc:
        raise FileRefused(f"{exc.message} (value {cells[index['amount']]!r})", number) from None
    raw_time = cells[index["time"]].strip()
    when = None
    if raw_time:
        try:
            when = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
        except ValueError:
            raise FileRefused(f"time {raw_time!r} is not ISO 8601 (2026-01-31T12:00:00Z)", number) from None
    return TheirLine(number, txn_id, our_type, raw_type, cells[index["player"]].strip(), currency, amount, when)
