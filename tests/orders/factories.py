from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from orders.models import Channel, Order, OrderEvent, OrderLine
from orders.numbers import format_order_number
from tests.inventory.factories import ProductFactory


class ChannelFactory(DjangoModelFactory[Channel]):
    class Meta:
        model = Channel
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())


class OrderFactory(DjangoModelFactory[Order]):
    class Meta:
        model = Order

    # Far above the sequence the services draw from, so factory rows never collide with them.
    number = factory.Sequence(lambda n: format_order_number(900_000_000 + n))
    channel = factory.SubFactory(ChannelFactory)
    external_reference = factory.Sequence(lambda n: f"EXT-{n:06d}")
    currency = "EUR"
    total_amount = Decimal("0")
    customer_email = factory.Sequence(lambda n: f"customer{n}@example.com")
    customer_name = factory.Faker("name")
    customer_phone = "+31 6 1234 5678"
    shipping_name = factory.LazyAttribute(lambda o: o.customer_name)
    shipping_line1 = factory.Faker("street_address")
    shipping_city = "Amsterdam"
    shipping_postcode = "1011 AB"
    shipping_country = "NL"
    placed_at = factory.LazyFunction(timezone.now)


class OrderLineFactory(DjangoModelFactory[OrderLine]):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    line_number = factory.Sequence(lambda n: n % 30000 + 1)
    product = factory.SubFactory(ProductFactory)
    sku = factory.LazyAttribute(lambda o: o.product.sku)
    quantity = 1
    unit_price = Decimal("19.9500")


class OrderEventFactory(DjangoModelFactory[OrderEvent]):
    class Meta:
        model = OrderEvent

    order = factory.SubFactory(OrderFactory)
    type = OrderEvent.Type.NOTE_ADDED
    actor = "system"
