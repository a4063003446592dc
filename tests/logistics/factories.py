import factory
from factory.django import DjangoModelFactory

from logistics import webhook_signing
from logistics.models import Provider, ServiceLevel, Shipment, TrackingEvent, WebhookEndpoint
from logistics.webhook_topics import Topic


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


class WebhookEndpointFactory(DjangoModelFactory[WebhookEndpoint]):
    """An endpoint subscribed to every topic (pass `topics=[...]` for fewer)."""

    class Meta:
        model = WebhookEndpoint

    channel = factory.SubFactory("tests.orders.factories.ChannelFactory")
    url = "https://partner.test/hook"
    topics = factory.LazyFunction(lambda: list(Topic.values))
    secret = factory.LazyFunction(webhook_signing.secret_generate)


# What a channel's one webhook URL received before endpoints by topic.
LEGACY_TOPICS = [
    "order.shipped",
    "order.delivered",
    "order.exception",
    "order.cancelled",
    "order.rest_cancelled",
    "return.received",
]


def channel_with_webhooks(*, url: str = "https://partner.test/hook", secret: str | None = None):
    """A channel with one endpoint subscribed to the order milestones (the legacy topics)."""
    from tests.orders.factories import ChannelFactory

    endpoint = WebhookEndpointFactory(
        channel=ChannelFactory(),
        url=url,
        topics=LEGACY_TOPICS,
        **({"secret": secret} if secret else {}),
    )
    return endpoint.channel
