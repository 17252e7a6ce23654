"""The back office's id search: exact, through the searched table's own indexed columns, and
the same in every list that uses it."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from config.search import exact_id_search
from tests.factories import fund, make_player
from wallet.models import Account, Bet, LedgerEntry, LedgerTransaction, Player
from wallet.selectors import wallet_get
from wallet.services.postings import bet_place_apply

pytestmark = pytest.mark.django_db


@pytest.fixture
def bets():
    placed = []
    for player_id, bet_id in (("alice", "Bet-1"), ("bob", "bet-1"), ("bob", "bet-2")):
        player = Player.objects.filter(external_id=player_id).first() or make_player(player_id)
        fund(player, "20")
        with transaction.atomic():
            placed.append(
                bet_place_apply(
                    provider="test",
                    external_id=bet_id,
                    wallet=wallet_get(external_id=player_id, currency="EUR"),
                    amount=Decimal("5"),
                ).bet
            )
    return placed


def ids(rows) -> set[str]:
    return {row.external_id for row in rows}


def test_an_id_is_found_exactly_as_written(bets):
    search = lambda term: ids(exact_id_search(Bet.objects.all(), term, ["external_id"]))  # noqa: E731
    assert search("bet-1") == {"bet-1"}
    assert search("Bet-1") == {"Bet-1"}  # provider ids are case-sensitive
    assert search("  bet-2 ") == {"bet-2"}
    assert search("bet") == set()  # not a substring
    assert ids(exact_id_search(Bet.objects.all(), "", ["external_id"])) == ids(bets)


def test_related_paths_are_resolved_to_ids_first(bets):
    """One indexed query per step: the search itself is ORed equalities on the table's own
    columns, with no join and no UPPER() or LIKE for PostgreSQL to scan the table with."""
    rows = exact_id_search(
        LedgerEntry.objects.all(), "bob", ["account__player__external_id", "transaction__external_id"]
    )
    sql = str(rows.query).upper()
    assert " JOIN " not in sql and "UPPER(" not in sql and " LIKE " not in sql
    bob_accounts = set(Account.objects.filter(player__external_id="bob").values_list("pk", flat=True))
    assert rows.exists() and {entry.account_id for entry in rows} <= bob_accounts
    by_bet = exact_id_search(LedgerTransaction.objects.all(), "bet-2", ["bet__external_id"])
    assert [txn.bet.external_id for txn in by_bet] == ["bet-2"]


def test_a_word_in_a_number_field_matches_nothing_there(bets):
    rows = exact_id_search(LedgerTransaction.objects.all(), "bet-1", ["id", "external_id"])
    assert ids(rows) == {"bet-1"}
    first = LedgerTransaction.objects.order_by("id").first()
    assert list(exact_id_search(LedgerTransaction.objects.all(), str(first.pk), ["id"])) == [first]


def test_only_foreign_keys_are_followed():
    with pytest.raises(ValueError, match="foreign keys only"):
        exact_id_search(Player.objects.all(), "x", ["bets__external_id"])


@pytest.mark.parametrize(
    ("model", "term", "expected"),
    [
        (Bet, "bet-1", {"external_id": "bet-1"}),
        (Bet, "bob", {"player__external_id": "bob"}),
        (LedgerEntry, "bet-2", {"transaction__external_id": "bet-2"}),
        (LedgerEntry, "bob", {"account__player__external_id": "bob"}),
        (LedgerTransaction, "Bet-1", {"external_id": "Bet-1"}),
    ],
)
def test_the_admin_lists_search_by_id(client, bets, model, term, expected):
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "pw"))
    response = client.get(reverse(f"admin:wallet_{model._meta.model_name}_changelist"), {"q": term})
    assert response.status_code == 200
    found = {row.pk for row in response.context["cl"].queryset}
    assert found and found == set(model.objects.filter(**expected).values_list("pk", flat=True))
    assert "exactly as written" in response.content.decode()
