from django.urls import path, re_path

from wallet.igpx import views

# No trailing slash: the provider appends exactly these names to our callback URL.
urlpatterns = [
    path("transaction", views.TransactionView.as_view(), name="transaction"),
    path("transaction-rollback", views.RollbackView.as_view(), name="transaction-rollback"),
    # Anything else under /api/igpx/ is answered in IGPX's format, not Django's HTML 404.
    re_path(r"", views.not_found),
]
