"""Mounted at /api/feeds/ (config/urls.py). The issue asks for the same view under
/api/operator/feeds/…; that needs one line in wallet/api/urls.py (see docs/uof.md)."""

from django.urls import path

from feeds import views

urlpatterns = [
    path("events/<str:urn>/markets", views.EventMarkets.as_view(), name="feeds-event-markets"),
    path("producers", views.Producers.as_view(), name="feeds-producers"),
]
