"""Input validation and output shapes of the operator API. Amounts travel as strings."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallet import identifiers, money
from wallet.currencies import CURRENCIES
from wallet.errors import InvalidRequest
from wallet.models import Account, Bet, LedgerEntry, LedgerTransaction, Player, Settlement


class PlayerCreateIn(serializers.Serializer):
    # The one identifier rule (wallet/identifiers.py): refused when padded, never trimmed.
    external_id = serializers.RegexField(identifiers.REGEX, max_length=identifiers.PLAYER_ID_MAX, trim_whitespace=False)
    currencies = serializers.ListField(child=serializers.ChoiceField(choices=sorted(CURRENCIES)), min_length=1)
    is_test = serializers.BooleanField(default=False)
    nickname = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False, default="", allow_blank=True)


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Why: staff read it later in the audit log.")


class StatusIn(ReasonIn):
    status = serializers.ChoiceField(choices=Player.Status.choices)


# A positive decimal as written: digits, at most 8 decimals, no sign, no exponent. The currency's
# own precision (2 for EUR, 0 for JPY…) is checked on top; a JSON number is accepted as well.
AMOUNT_PATTERN = r"^[0-9]{1,20}(\.[0-9]{1,8})?$"


@extend_schema_field({"type": "string", "pattern": AMOUNT_PATTERN, "example": "10.50"})
class AmountField(serializers.Field):
    """Passes the parsed JSON value through untouched (Decimal, int or str); validated in
    TransferIn.validate against the currency, because precision depends on it."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return str(value)


class TransferIn(serializers.Serializer):
    reference = serializers.RegexField(
        identifiers.REGEX,
        max_length=identifiers.TRANSACTION_ID_MAX,
        trim_whitespace=False,
        help_text=f"Your unique id for this transfer: 1-128 characters from {identifiers.CHARACTERS}.",
    )
    currency = serializers.ChoiceField(choices=sorted(CURRENCIES))
    amount = AmountField(help_text='A decimal string like "10.50" (a JSON number is accepted, never as a float).')

    def validate(self, attrs):
        try:
            attrs["amount"] = money.parse_amount(attrs["amount"], attrs["currency"])
        except InvalidRequest as exc:
            raise serializers.ValidationError({"amount": [exc.message]}) from None
        return attrs


class AccountOut(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["currency", "balance", "bonus_balance", "debt_balance"]


class PlayerOut(serializers.ModelSerializer):
    wallets = serializers.SerializerMethodField()

    class Meta:
        model = Player
        fields = ["external_id", "status", "is_test", "nickname", "country", "created_at", "wallets"]

    def get_wallets(self, player: Player) -> list[dict]:
        accounts = player.accounts.filter(kind=Account.Kind.PLAYER).order_by("currency")
        return [
            {
                "currency": a.currency,
                "balance": money.format_amount(a.balance, a.currency),
                "bonus_balance": money.format_amount(a.bonus_balance, a.currency),
                "debt": money.format_amount(-a.debt_balance, a.currency),
            }
            for a in accounts
        ]


class EntryOut(serializers.ModelSerializer):
    account = serializers.StringRelatedField()

    class Meta:
        model = LedgerEntry
        fields = ["account", "bucket", "amount", "balance_after"]


class TransactionOut(serializers.ModelSerializer):
    entries = EntryOut(many=True, read_only=True)

    class Meta:
        model = LedgerTransaction
        fields = [
            "id",
            "kind",
            "currency",
            "provider",
            "external_id",
            "bet",
            "reverses",
            "created_at",
            "reason",
            "entries",
        ]


class SettlementOut(serializers.ModelSerializer):
    class Meta:
        model = Settlement
        fields = ["id", "kind", "result", "amount", "previous_amount", "external_id", "transaction", "created_at"]


class BetOut(serializers.ModelSerializer):
    settlements = SettlementOut(many=True, read_only=True)

    class Meta:
        model = Bet
        fields = [
            "id",
            "provider",
            "external_id",
            "currency",
            "stake",
            "stake_real",
            "stake_bonus",
            "payout",
            "status",
            "result",
            "bet_type",
            "odds",
            "selections",
            "placed_at",
            "settled_at",
            "settlements",
        ]


class TransferOut(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    reference = serializers.CharField()
    player = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.CharField()
    balance = serializers.CharField()


def transfer_body(*, result, reference: str) -> dict:
    return {
        "transaction_id": result.transaction_id,
        "reference": reference,
        "player": result.player_external_id,
        "currency": result.currency,
        "amount": money.format_amount(result.amount, result.currency),
        "balance": money.format_amount(result.balance, result.currency),
    }
