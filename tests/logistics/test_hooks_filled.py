"""The ports logistics calls upward are filled at startup by the apps above it."""

from logistics import hooks
from orders.services.progress import shipment_progress
from returns.services import return_tracking


def test_orders_fills_the_shipment_progress_port():
    assert hooks.shipment_progress.impl is shipment_progress


def test_returns_fills_the_return_tracking_port():
    assert hooks.return_tracking.impl is return_tracking
