"""Exception queue and dashboard figures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice import charts
from backoffice.selectors import dashboard_figures, exception_queue, late_shipments
from orders.models import Order
from tests.inventory.factories import StockLevelFactory
from tests.logistics.factories import ServiceLevelFactory, ShipmentFactory
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_late_shipment_is_one_past_its_service_level_promise():
    level = ServiceLevelFactory(max_transit_hours=24)
    now = timezone.now()
    late = ShipmentFactory(
        service_level=level,
        provider=level.provider,
        status="in_transit",
        dispatched_at=now - timedelta(hours=30),
    )
    ShipmentFactory(
        service_level=level,
        provider=level.provider,
        status="in_transit",
        dispatched_at=now - timedelta(hours=10),
    )
    ShipmentFactory(status="delivered", dispatched_at=now - timedelta(days=10))
    assert list(late_shipments(now=now)) == [late]


def test_old_backorders_only_past_the_threshold():
    old = OrderFactory(status=Order.Status.BACKORDERED)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=5))
    OrderFactory(status=Order.Status.BACKORDERED)
    queue = exception_queue(kind="backorder", backorder_days=3)
    assert [item.order for item in queue["backorder"]["items"]] == [old]


def test_queue_filters_by_channel():
    a = ShipmentFactory(status="dispatch_failed")
    ShipmentFactory(status="dispatch_failed")
    queue = exception_queue(kind="dispatch_failed", channel_code=a.order.channel.code)
    assert queue["dispatch_failed"]["count"] == 1


def test_stock_alert_when_available_at_or_below_threshold():
    low = StockLevelFactory(on_hand=2, low_stock_threshold=5)
    StockLevelFactory(on_hand=20, low_stock_threshold=5)
    queue = exception_queue(kind="stock")
    assert queue["stock"]["count"] == 1
    assert low.product.sku in queue["stock"]["items"][0].subject


def test_dashboard_counts_todays_orders_by_channel():
    OrderFactory.create_batch(3)
    figures = dashboard_figures()
    assert figures["orders_total"] == 3
    assert sum(n for _, n in figures["backlog"]) == 3


def test_chart_labels_are_escaped():
    svg = charts.horizontal_bars([("<script>", 3)], title="t")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_dashboard_still_renders_when_the_cache_is_down(client, manager):
    from unittest import mock

    OrderFactory()
    client.force_login(manager)
    with (
        mock.patch("django.core.cache.cache.get", side_effect=ConnectionError("down")),
        mock.patch("django.core.cache.cache.set", side_effect=ConnectionError("down")),
    ):
        response = client.get("/ops/dashboard/")
    assert response.status_code == 200


def test_queue_counts_are_capped_for_cheap_counting():
    from backoffice.selectors import capped_count, count_label

    OrderFactory.create_batch(4)
    assert capped_count(Order.objects.all(), cap=2) == 3
    assert count_label(3, cap=2) == "2+"
    assert count_label(2, cap=2) == "2"


def test_open_lsp_snapshot_differences_are_stock_discrepancies():
    from inventory.models import StockSnapshot, StockSnapshotLine
    from tests.inventory.factories import ProductFactory, WarehouseFactory

    snapshot = StockSnapshot.objects.create(warehouse=WarehouseFactory(), taken_at=timezone.now())
    differs = ProductFactory()
    StockSnapshotLine.objects.create(
        snapshot=snapshot, product=differs, lsp_on_hand=12, consign_on_hand=10
    )
    StockSnapshotLine.objects.create(
        snapshot=snapshot, product=ProductFactory(), lsp_on_hand=5, consign_on_hand=5
    )
    queue = exception_queue(kind="stock_discrepancy")
    assert queue["stock_discrepancy"]["count"] == 1
    assert differs.sku in queue["stock_discrepancy"]["items"][0].subject
    assert "+2" in queue["stock_discrepancy"]["items"][0].detail
