from django.urls import path

from crm.views import OutboxStatusView

app_name = "crm"
urlpatterns = [
    path("outbox/status", OutboxStatusView.as_view(), name="outbox-status"),
]
