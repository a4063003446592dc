from django.contrib import admin
from django.urls import include, path

from core import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include("partners.urls")),
    path("webhooks/", include("logistics.urls")),
    path("", include("backoffice.urls")),
]

# Upload limits (DATA_UPLOAD_MAX_*) answered with a message that names the limit.
handler400 = "core.views.bad_request"
handler500 = "core.views.server_error"
