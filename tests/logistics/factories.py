import factory
from factory.django import DjangoModelFactory

from logistics.models import Provider, ServiceLevel, Shipment, TrackingEvent


class ProviderFactory(DjangoModelFactory[Provider]):
    class Meta:
        model = Provider
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"lsp-{n}")
    name = factory.LazyAttribute(lambda o: f"Provider {o.code}")
    base_url = "http://127.0.0.1:8700"
    webhook_secret = factory.Sequence(lambda n: f"whsec_test_{n}")
    tracking_url_template = "http://127.0.0.1:8700/track/{tracking_number}"


class ServiceLevelFactory(DjangoModelFactory[ServiceLevel]):
    class Meta:
        model = ServiceLevel
        django_get_or_create = ("provider", "code")

    provider = factory.SubFactory(ProviderFactory)
    code = "standard"
    name = "Standard"
    max_transit_hours = 72


class ShipmentFactory(DjangoModelFactory[Shipment]):
    class Meta:
        model = Shipment

    order = factory.SubFactory("tests.orders.factories.OrderFactory")
    warehouse = factory.SubFactory("tests.inventory.factories.WarehouseFactory")
    provider = factory.SubFactory(ProviderFactory)
    tracking_number = factory.Sequence(lambda n: f"TRK{n:09d}")


class TrackingEventFactory(DjangoModelFactory[TrackingEvent]):
    class Meta:
        model = TrackingEvent

    shipment = factory.SubFactory(ShipmentFactory)
    status = "in_transit"
    occurred_at = factory.Faker("date_time_this_month", tzinfo=__import__("datetime").UTC)
    dedup_key = factory.Sequence(lambda n: f"evt-{n}")
