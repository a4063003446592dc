from django.apps import AppConfig


class DemoAppConfig(AppConfig):
    """Demo data seeding (`manage.py seed_demo`): no models; sits above every domain app."""

    name = "demo"
    label = "demo"
