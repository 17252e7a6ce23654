from django.urls import include, path, re_path, register_converter

from wallet import identifiers
from wallet.api import errors, protection, views
from wallet.models import Player


class PlayerIdConverter:
    """A player id in a path, under the one identifier rule (wallet/identifiers.py). Anything
    else (`%00`, padding, "café") never reaches the database: it is an unknown player, 404."""

    regex = f"[A-Za-z0-9_.:@-]{{1,{identifiers.PLAYER_ID_MAX}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PlayerIdConverter, "player_id")

urlpatterns = [
    path("feeds/", include("feeds.urls")),
    path("players/", views.PlayerListCreate.as_view(), name="operator-players"),
    path("players/<player_id:external_id>/", views.PlayerDetail.as_view(), name="operator-player"),
    path(
        "players/<player_id:external_id>/block/",
        views.PlayerBlock.as_view(target=Player.Status.BLOCKED),
        name="operator-block",
    ),
    path(
        "players/<player_id:external_id>/unblock/",
        views.PlayerBlock.as_view(target=Player.Status.ACTIVE),
        name="operator-unblock",
    ),
    path("players/<player_id:external_id>/status/", views.PlayerStatus.as_view(), name="operator-status"),
    path("players/<player_id:external_id>/deposits/", views.Transfer.as_view(), name="operator-deposit"),
    path("players/<player_id:external_id>/withdrawals/", views.Withdrawal.as_view(), name="operator-withdrawal"),
    path(
        "players/<player_id:external_id>/transactions/",
        views.PlayerTransactions.as_view(),
        name="operator-transactions",
    ),
    path("players/<player_id:external_id>/bets/", views.PlayerBets.as_view(), name="operator-bets"),
    path(
        "players/<player_id:external_id>/sessions/<str:provider>/",
        views.SessionLaunch.as_view(),
        name="operator-session",
    ),
    path(
        "players/<player_id:external_id>/protection/",
        protection.PlayerProtection.as_view(),
        name="operator-protection",
    ),
    # A player id outside the rule: the API's own 404, not an HTML page or a database error.
    re_path(r"^players/[^/]*/", errors.UnknownPlayerPath.as_view()),
]
