from django.apps import AppConfig


class LspSandboxAppConfig(AppConfig):
    """The LSP sandbox (`manage.py run_lsp_sandbox`): no models; sits above every domain app."""

    name = "sandbox"
    label = "sandbox"
