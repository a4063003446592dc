"""What the channels hear about stock: stock.low at once, stock.changed once per window.

- stock.low: the stock engine tells orders through the `inventory.stock_low` port
  (filled in orders.apps) that levels just went low; every channel selling from the
  level's warehouse (ChannelWarehouse) gets one event per level, in that transaction.
- stock.changed: `stock_changed_publish` runs every PARTNER_WEBHOOK_STOCK_WINDOW_SECONDS
  (beat, orders.tasks.stock_changed_publish_task). It reads which SKUs the stock ledger
  touched at each channel's warehouses since its cursor (the PartnerFeedCursor row
  `stock.changed`: the stock journal's snapshot cursor, inventory.selectors
  `stock_changes_since`, exact even for a change committed late), and publishes per channel ONE event listing each changed SKU once
  with its availability for that channel now: however often a SKU moved within the
  window, the partner hears of it once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import transaction

from inventory.models import Product, Warehouse
from inventory.selectors import (
    ChangesCursor,
    stock_available_for_channel,
    stock_changes_cursor,
    stock_changes_since,
)
from logistics.models import WebhookEndpoint
from logistics.services.partner_events import PartnerEvent, partner_events_publish_many
from logistics.webhook_topics import Topic
from orders.models import Channel, ChannelWarehouse, PartnerFeedCursor
from orders.services.partner_notifications import order_notifications_send

if TYPE_CHECKING:
    from inventory.models import StockLevel

STOCK_CHANGED_CURSOR = "stock.changed"


# --- stock.low ----------------------------------------------------------------------
class StockLowService:
    """The `inventory.stock_low` port (inventory.hooks.StockLow), filled in orders.apps."""

    def stock_levels_became_low(self, *, levels: Sequence[StockLevel]) -> None:
        """One stock.low per (level, channel selling from its warehouse); two queries."""
        warehouse_ids = {level.warehouse_id for level in levels}
        channels: defaultdict[int, list[int]] = defaultdict(list)
        for channel_id, warehouse_id in ChannelWarehouse.objects.filter(
            warehouse_id__in=warehouse_ids
        ).values_list("channel_id", "warehouse_id"):
            channels[warehouse_id].append(channel_id)
        if not channels:
            return
        skus = dict(
            Product.objects.filter(pk__in={level.product_id for level in levels}).values_list(
                "pk", "sku"
            )
        )
        codes = dict(Warehouse.objects.filter(pk__in=channels).values_list("pk", "code"))
        order_notifications_send(
            messages=[
                PartnerEvent(
                    channel_id=channel_id,
                    topic=Topic.STOCK_LOW,
                    data={
                        "sku": skus[level.product_id],
                        "warehouse": codes[level.warehouse_id],
                        "available": level.available,
                        "threshold": level.low_stock_threshold,
                    },
                )
                for level in levels
                for channel_id in sorted(channels.get(level.warehouse_id, ()))
            ]
        )


# The one instance orders.apps registers in inventory.hooks.stock_low.
stock_low = StockLowService()


# --- stock.changed ------------------------------------------------------------------
def _cursor_of(row: PartnerFeedCursor) -> ChangesCursor:
    return ChangesCursor(xmax=row.value, in_progress=tuple(row.in_progress))


def _cursor_store(row: PartnerFeedCursor, cursor: ChangesCursor) -> None:
    row.value = cursor.xmax
    row.in_progress = list(cursor.in_progress)
    row.save(update_fields=["value", "in_progress", "updated_at"])


def _channels_listening() -> list[Channel]:
    """The channels with an active endpoint subscribed to stock.changed, with the
    warehouses they sell from (the others cost nothing here)."""
    listening = WebhookEndpoint.objects.filter(
        active=True, topics__contains=[Topic.STOCK_CHANGED]
    ).values("channel_id")
    return list(
        Channel.objects.filter(is_active=True, fulfilment_rules__isnull=False, pk__in=listening)
        .distinct()
        .order_by("pk")
        .prefetch_related("warehouses")
    )


@transaction.atomic
def stock_changed_publish() -> int:
    """Publish one stock.changed per channel whose SKUs changed since the last run.

    `data.items`: each SKU the ledger touched at the channel's warehouses, once, with
    what the channel can sell of it now (on hand minus reserved over its active
    warehouses, never below 0). The first run only takes the cursor. Runs that overlap
    wait for each other (the cursor row is locked), so a window is published once.
    Returns the number of events published.
    """
    row = PartnerFeedCursor.objects.select_for_update().filter(name=STOCK_CHANGED_CURSOR).first()
    if row is None:
        now = stock_changes_cursor()
        PartnerFeedCursor.objects.get_or_create(
            name=STOCK_CHANGED_CURSOR,
            defaults={"value": now.xmax, "in_progress": list(now.in_progress)},
        )
        return 0
    since = _cursor_of(row)
    events: list[PartnerEvent] = []
    cursors: list[ChangesCursor] = []
    for channel in _channels_listening():
        warehouse_ids = [warehouse.pk for warehouse in channel.warehouses.all()]
        skus, cursor = stock_changes_since(cursor=since, warehouse_ids=warehouse_ids)
        cursors.append(cursor)
        if not skus:
            continue
        available = stock_available_for_channel(channel=channel, skus=skus)
        events.append(
            PartnerEvent(
                channel_id=channel.pk,
                topic=Topic.STOCK_CHANGED,
                data={
                    "items": [
                        {"sku": sku, "available": max(available.get(sku, 0), 0)} for sku in skus
                    ]
                },
            )
        )
    # The first read's: a later read may already be past changes that one could not see
    # (they come again next window: repeated, never missed).
    _cursor_store(row, cursors[0] if cursors else stock_changes_cursor())
    partner_events_publish_many(events=events)
    return len(events)
