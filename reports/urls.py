from django.urls import path

from reports import api

urlpatterns = [
    path("daily/", api.DailyReport.as_view(), name="operator-reports-daily"),
    path("statements/<str:external_id>/", api.PlayerStatement.as_view(), name="operator-reports-statement"),
]
