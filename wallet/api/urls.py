from django.urls import include, path

from wallet.api import protection, views
from wallet.models import Player

urlpatterns = [
    path("feeds/", include("feeds.urls")),
    path("players/", views.PlayerListCreate.as_view(), name="operator-players"),
    path("players/<str:external_id>/", views.PlayerDetail.as_view(), name="operator-player"),
    path(
        "players/<str:external_id>/block/",
        views.PlayerBlock.as_view(target=Player.Status.BLOCKED),
        name="operator-block",
    ),
    path(
        "players/<str:external_id>/unblock/",
        views.PlayerBlock.as_view(target=Player.Status.ACTIVE),
        name="operator-unblock",
    ),
    path("players/<str:external_id>/status/", views.PlayerStatus.as_view(), name="operator-status"),
    path("players/<str:external_id>/deposits/", views.Transfer.as_view(), name="operator-deposit"),
    path("players/<str:external_id>/withdrawals/", views.Withdrawal.as_view(), name="operator-withdrawal"),
    path("players/<str:external_id>/transactions/", views.PlayerTransactions.as_view(), name="operator-transactions"),
    path("players/<str:external_id>/bets/", views.PlayerBets.as_view(), name="operator-bets"),
    path("players/<str:external_id>/sessions/<str:provider>/", views.SessionLaunch.as_view(), name="operator-session"),
    path("players/<str:external_id>/protection/", protection.PlayerProtection.as_view(), name="operator-protection"),
]
