from django.contrib import admin
from django.urls import include, path

from backoffice.views import account
from core import health

# The admin's login form, loading the back office's app.js (time-zone cookie).
admin.site.login_template = "backoffice/login.html"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Before the admin's own URLs: without a `next`, login lands on the role's start screen.
    path("admin/login/", account.login),
    path("admin/", admin.site.urls),
    path("api/", include("partners.urls")),
    path("webhooks/", include("logistics.urls")),
    path("", include("backoffice.urls")),
]

# Upload limits (DATA_UPLOAD_MAX_*) answered with a message that names the limit.
handler400 = "core.views.bad_request"
handler500 = "core.views.server_error"
# Back-office 403 and 404 pages keep the navigation (plain pages under /api/ and /webhooks/).
handler403 = "backoffice.views.account.permission_denied"
handler404 = "backoffice.views.account.page_not_found"
