"""The feed's read API, mounted under the operator API: /api/operator/feeds/…"""

from django.urls import path

from feeds import views

urlpatterns = [
    path("events/<str:urn>/markets", views.EventMarkets.as_view(), name="feeds-event-markets"),
    path("producers", views.Producers.as_view(), name="feeds-producers"),
    path("journal", views.Journal.as_view(), name="feeds-journal"),
]
