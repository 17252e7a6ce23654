from django.urls import path

from wallet.igpx import views

# No trailing slash: the provider appends exactly these names to our callback URL.
urlpatterns = [
    path("transaction", views.TransactionView.as_view(), name="transaction"),
    path("transaction-rollback", views.RollbackView.as_view(), name="transaction-rollback"),
]
