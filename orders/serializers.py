"""Output serializers of the partner API's order resources (input ones live next to their view).

They document the responses (drf-spectacular builds the schema from them) and
are the reference for orders/sql.py, which renders the same JSON in
Postgres; tests/orders/test_api_documents.py holds the two equal.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import Allocation
from logistics.models import Shipment, TrackingStatus
from orders.models import Order


def _service_level_ref(level) -> str | None:
    if level is None:
        return None
    return f"{level.provider.code}:{level.code}"


class CustomerSerializer(serializers.Serializer):
    email = serializers.EmailField(source="customer_email")
    name = serializers.CharField(source="customer_name")
    phone = serializers.CharField(source="customer_phone")


class AddressSerializer(serializers.Serializer):
    name = serializers.CharField(source="shipping_name")
    line1 = serializers.CharField(source="shipping_line1")
    line2 = serializers.CharField(source="shipping_line2")
    city = serializers.CharField(source="shipping_city")
    postcode = serializers.CharField(source="shipping_postcode")
    region = serializers.CharField(source="shipping_region")
    country = serializers.CharField(source="shipping_country", help_text="ISO 3166-1 alpha-2.")


class AllocationSerializer(serializers.Serializer):
    warehouse = serializers.CharField(source="warehouse.code")
    quantity = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=Allocation.Status.choices,
        help_text="active: reserved; fulfilled: shipped; released: given back.",
    )


class OrderLineSerializer(serializers.Serializer):
    line_number = serializers.IntegerField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=4, coerce_to_string=True)
    quantity_shipped = serializers.IntegerField()
    quantity_delivered = serializers.IntegerField()
    quantity_returned = serializers.IntegerField()
    quantity_cancelled = serializers.IntegerField(
        help_text="Units that will never ship: the unshipped rest of a partially shipped "
        "order, cancelled by us (the order.rest_cancelled notification), or a line you "
        "removed by editing the order (then equal to `quantity`)."
    )


class OrderLineDetailSerializer(OrderLineSerializer):
    allocations = AllocationSerializer(many=True, help_text="Where the stock is reserved.")


class TrackingEventSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TrackingStatus.choices)
    provider_status = serializers.CharField()
    description = serializers.CharField()
    location = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class ShipmentLineSerializer(serializers.Serializer):
    line_number = serializers.IntegerField(source="order_line.line_number")
    sku = serializers.CharField(source="order_line.sku")
    quantity = serializers.IntegerField()


class ParcelSerializer(serializers.Serializer):
    tracking_number = serializers.CharField()
    weight_grams = serializers.IntegerField()


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Shipment.Status.choices)
    direction = serializers.ChoiceField(
        choices=Shipment.Direction.choices,
        help_text="`return` for a return shipment (goods coming back under a return label).",
    )
    provider = serializers.CharField(source="provider.code")
    warehouse = serializers.CharField(source="warehouse.code")
    service_level = serializers.SerializerMethodField()
    tracking_number = serializers.CharField()
    tracking_url = serializers.CharField(help_text="Empty until the provider assigns a number.")
    dispatched_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    ship_by = serializers.DateField(
        allow_null=True,
        help_text="The day the shipment leaves its warehouse by (the site's local date).",
    )
    promised_delivery_date = serializers.DateField(
        allow_null=True, help_text="The day the customer is told this shipment arrives by."
    )
    lines = ShipmentLineSerializer(many=True)
    parcels = ParcelSerializer(many=True)
    tracking = TrackingEventSerializer(many=True, source="tracking_events")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_service_level(self, shipment) -> str | None:
        return _service_level_ref(shipment.service_level)


class OrderSerializer(serializers.Serializer):
    """An order as a list shows it: header and lines."""

    number = serializers.CharField(help_text="Consign's order number, e.g. CS-000123.")
    external_reference = serializers.CharField()
    channel = serializers.CharField(source="channel.code")
    status = serializers.ChoiceField(choices=Order.Status.choices)
    currency = serializers.CharField(help_text="ISO 4217.")
    total_amount = serializers.DecimalField(max_digits=14, decimal_places=4, coerce_to_string=True)
    customer = CustomerSerializer(source="*")
    shipping_address = AddressSerializer(source="*")
    service_level = serializers.SerializerMethodField()
    placed_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    cancelled_at = serializers.DateTimeField(allow_null=True)
    ship_by = serializers.DateField(
        allow_null=True,
        help_text=(
            "The day the order leaves its warehouse(s) by (the site's local date); null "
            "while the order has no delivery promise (on hold or fully backordered)."
        ),
    )
    promised_delivery_date = serializers.DateField(
        allow_null=True,
        help_text="The day the customer is told the order arrives by; never before ship_by.",
    )
    lines = OrderLineSerializer(many=True)

    @extend_schema_field(
        serializers.CharField(allow_null=True, help_text="`provider:code`, e.g. sandbox:standard.")
    )
    def get_service_level(self, order) -> str | None:
        return _service_level_ref(order.service_level)


class OrderDetailSerializer(OrderSerializer):
    """An order with lines, their allocations, and its shipments with tracking."""

    lines = OrderLineDetailSerializer(many=True)
    shipments = ShipmentSerializer(many=True)
