from django.urls import path

from logistics import views

app_name = "logistics"

urlpatterns = [
    path("lsp/<slug:provider_code>/", views.lsp_webhook, name="lsp-webhook"),
]
