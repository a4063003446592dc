"""Partner API: stock available to sell for the key's channel."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from inventory.selectors import stock_available_for_channel
from partners import schema as api_schema
from partners.views import PartnerApiView

MAX_SKUS = 100


class InventoryApi(PartnerApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StockAvailability"

        sku = serializers.CharField()
        available = serializers.IntegerField(
            help_text="On hand minus reserved, summed over the warehouses the channel ships from."
        )

    @extend_schema(
        operation_id="inventory_list",
        summary="Stock available to sell per SKU",
        parameters=[
            OpenApiParameter(
                name="sku",
                type={
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 64},
                    "minItems": 1,
                    "maxItems": MAX_SKUS,
                },
                location=OpenApiParameter.QUERY,
                required=True,
                explode=True,
                description=(
                    f"One or more SKUs (repeat the parameter: ?sku=A&sku=B; at most {MAX_SKUS}). "
                    "SKUs the channel's warehouses do not hold report 0."
                ),
            )
        ],
        responses={200: OutputSerializer(many=True), **api_schema.COMMON_READ_RESPONSES},
    )
    def get(self, request):
        requested = request.query_params.getlist("sku")
        # Counted as sent (the schema's maxItems), repeats included.
        if not 1 <= len(requested) <= MAX_SKUS:
            raise ValidationError({"sku": [f"Give 1 to {MAX_SKUS} SKUs."]})
        skus = list(dict.fromkeys(requested))
        if any(len(sku) > 64 for sku in skus):
            raise ValidationError({"sku": ["A SKU has at most 64 characters."]})
        # A SKU with a NUL character cannot exist (and Postgres refuses it in a query).
        available = stock_available_for_channel(
            channel=self.channel, skus=[sku for sku in skus if "\x00" not in sku]
        )
        data = [{"sku": sku, "available": max(0, available.get(sku, 0))} for sku in skus]
        return Response(self.OutputSerializer(data, many=True).data)
