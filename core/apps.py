from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Consign core"

    def ready(self) -> None:
        from core.roles import roles_sync_after_migrate

        post_migrate.connect(roles_sync_after_migrate, sender=self)
        from core import checks, security_audit  # noqa: F401  (registers checks, log receivers)
