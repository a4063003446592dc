from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partner API"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from orders.models import Channel
        from partners.models import ApiKey

        def changed(sender, **kwargs):
            from partners.services import api_keys_changed

            # Keys remembered by web processes carry their channel: any change to a
            # key or a channel (deactivation above all) makes them read it again.
            api_keys_changed()

        for model in (ApiKey, Channel):
            post_save.connect(changed, sender=model, weak=False, dispatch_uid=f"keys-{model}")
            post_delete.connect(changed, sender=model, weak=False, dispatch_uid=f"keys-{model}-")
