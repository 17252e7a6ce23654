"""Betsy callback paths under /api/betsy/ (no trailing slashes: the provider is configured with
the base URL and appends these exactly)."""

from django.urls import path, re_path

from wallet.betsy import views

urlpatterns = [
    path("user/profile", views.user_profile, name="betsy-profile"),
    path("user/balance", views.user_balance, name="betsy-balance"),
    path("payment/bet", views.payment_bet, name="betsy-bet"),
    path("payment/check", views.payment_check, name="betsy-check"),
    # Anything else under /api/betsy/ is answered in Betsy's format, not Django's HTML 404.
    re_path(r"", views.not_found),
]
