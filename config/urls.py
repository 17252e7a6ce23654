from csp.constants import SELF
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config import dashboard, ops

handler500 = "config.ops.server_error"  # JSON under /api/

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Both pages run under the site's Content-Security-Policy: Swagger UI's start-up script is a
    # file of its own (the split view), and ReDoc starts from its tag; ReDoc's search runs in a
    # worker it makes from a blob, which only this page allows.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path(
        "api/redoc/",
        csp_update({"worker-src": [SELF, "blob:"]})(SpectacularRedocView.as_view(url_name="schema")),
        name="api-redoc",
    ),
    path("api/operator/reports/", include("reports.urls")),
    path("api/operator/", include("wallet.api.urls")),
    path("api/igpx/", include("wallet.igpx.urls")),
    path("api/betsy/", include("wallet.betsy.urls")),
    path("api/parlays/", include("parlays.urls")),
    path("api/crm/", include("crm.urls")),
    path("admin/dashboard/", dashboard.dashboard_view, name="dashboard"),
    path("admin/", admin.site.urls),
]

handler403 = "config.refusals.permission_denied"
