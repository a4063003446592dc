"""Read-side queries of the inventory domain."""

from __future__ import annotations

from django.db.models import F, Sum
from django.db.models.functions import Coalesce

from inventory.models import StockLevel


def stock_available_for_channel(*, channel, skus: list[str]) -> dict[str, int]:
    """Available-to-sell per SKU (on hand minus reserved), summed over the channel's warehouses.

    SKUs that exist nowhere in the channel's warehouses are absent from the result.
    """
    rows = (
        StockLevel.objects.filter(
            product__sku__in=skus,
            warehouse__is_active=True,
            warehouse__in=channel.warehouses.all(),
        )
        .values("product__sku")
        .annotate(available=Coalesce(Sum(F("on_hand") - F("reserved")), 0))
    )
    return {row["product__sku"]: row["available"] for row in rows}
