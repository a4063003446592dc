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
    class QuerySerializer(serializers.Serializer):
        sku = serializers.ListField(
            child=serializers.CharField(max_length=64), min_length=1, max_length=MAX_SKUS
        )

    class OutputSerializer(serializers.Serializer):
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
                type={"type": "array", "items": {"type": "string", "maxLength": 64}, "minItems": 1},
                location=OpenApiParameter.QUERY,
                required=True,
                explode=True,
                description=(
                    f"One or more SKUs (repeat the parameter or separate with commas; at most "
                    f"{MAX_SKUS}). SKUs the channel's warehouses do not hold report 0."
                ),
            )
        ],
        responses={200: OutputSerializer(many=True), **api_schema.COMMON_READ_RESPONSES},
    )
    def get(self, request):
        raw = [part for value in request.query_params.getlist("sku") for part in value.split(",")]
        query = self.QuerySerializer(data={"sku": [part.strip() for part in raw if part.strip()]})
        if not query.is_valid():
            raise ValidationError(query.errors)
        skus = list(dict.fromkeys(query.validated_data["sku"]))
        available = stock_available_for_channel(channel=self.channel, skus=skus)
        data = [{"sku": sku, "available": max(0, available.get(sku, 0))} for sku in skus]
        return Response(self.OutputSerializer(data, many=True).data)
