"""Building blocks for logistics tests: an allocated order ready to plan, signed posts."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from inventory.models import Allocation, Warehouse
from logistics import webhook_signing
from logistics.adapters.base import CreatedShipment, ProviderRejected, ProviderUnavailable
from logistics.models import Provider
from orders.models import Order
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ProviderFactory
from tests.orders.factories import ChannelFactory, OrderFactory, OrderLineFactory


def outbox_site(**fields) -> Warehouse:
    """A site whose shipments go to their provider through the dispatch outbox: operated
    by the default provider (LOGISTICS_DEFAULT_PROVIDER). An own site's shipments wait
    for picking instead (logistics.services.shipments.dispatches_through_outbox)."""
    code = settings.LOGISTICS_DEFAULT_PROVIDER
    provider = Provider.objects.filter(code=code).first() or ProviderFactory(code=code)
    return WarehouseFactory(kind=Warehouse.Kind.LSP, provider=provider, **fields)


def allocated_order(*, warehouses=None, quantities=(2,), channel=None) -> Order:
    """An `allocated` order with one line per quantity, reserved at the given warehouses.

    `warehouses` is a list (one per line) of Warehouse objects; default one warehouse.
    Stock levels get on_hand 100 and the reservation; Allocation rows are active.
    """
    channel = channel or ChannelFactory()
    order = OrderFactory(channel=channel, status=Order.Status.ALLOCATED)
    default_wh = None if warehouses else outbox_site()
    for index, quantity in enumerate(quantities):
        warehouse = warehouses[index] if warehouses else default_wh
        product = ProductFactory()
        line = OrderLineFactory(
            order=order, line_number=index + 1, product=product, quantity=quantity
        )
        StockLevelFactory(product=product, warehouse=warehouse, on_hand=100, reserved=quantity)
        Allocation.objects.create(order_line=line, warehouse=warehouse, quantity=quantity)
    return order


def planned_orders(count: int, *, channel=None, warehouse=None) -> list[int]:
    """Ids of `count` allocated one-unit orders, each planned (shipment + outbox row)."""
    from django.db import transaction

    from orders.services.shipment_planning import shipments_plan_for_order

    channel = channel or ChannelFactory()
    warehouse = warehouse or outbox_site()
    ids = []
    for _ in range(count):
        with transaction.atomic():
            order = allocated_order(channel=channel, warehouses=[warehouse], quantities=[1])
            shipments_plan_for_order(order=order, actor="test")
        ids.append(order.pk)
    return ids


def sandbox_provider(**kwargs) -> Provider:
    defaults = {
        "code": "sandbox",
        "webhook_secret": "whsec_dGVzdC1zZWNyZXQtZm9yLWxvZ2lzdGljcw==",
        "base_url": "http://127.0.0.1:1",
    }
    defaults.update(kwargs)
    provider = ProviderFactory(**defaults)
    # An outbox_site() made before may have created it with the factory's values.
    for name, value in defaults.items():
        setattr(provider, name, value)
    provider.save()
    return provider


def signed_post(client, *, provider: Provider, payload, secret=None, msg_id=None, timestamp=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = webhook_signing.sign_headers(
        secret=secret or provider.webhook_secret, body=body, msg_id=msg_id, timestamp=timestamp
    )
    return client.post(
        f"/webhooks/lsp/{provider.code}/",
        data=body,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
    )


def tracking_payload(*, shipment, status: str, at: dt.datetime, event_id: str | None = None):
    return {
        "type": "shipment.tracking_updated",
        "timestamp": timezone.now().isoformat(),
        "data": {
            "shipment_id": shipment.provider_reference,
            "reference": str(shipment.idempotency_token),
            "tracking_number": shipment.tracking_number,
            "event": {
                "id": event_id or f"evt-{shipment.pk}-{status}-{at.timestamp()}",
                "status": status,
                "occurred_at": at.isoformat(),
            },
        },
    }


@dataclass
class FakeAdapter:
    """Scripted provider: each create_shipment call pops the next outcome."""

    outcomes: list
    calls: int = 0

    def create_shipment(self, shipment):
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "ok":
            return CreatedShipment(
                provider_reference=f"P-{shipment.pk}",
                tracking_number=f"T-{shipment.pk}",
                label_url="http://lsp.test/label.pdf",
            )
        if outcome == "5xx":
            raise ProviderUnavailable("LSP answered 503", status_code=503)
        if outcome == "timeout":
            raise ProviderUnavailable("Timeout calling LSP")
        raise ProviderRejected("ship_to.postcode is invalid", status_code=422)


def in_thread(target, *, start: threading.Barrier | None = None):
    """Run `target` in a thread with its own database connection: (thread, box), where
    box gets "result" or "error". With `start`, every such thread begins at once."""
    box: dict = {}

    def run():
        try:
            if start is not None:
                start.wait(10)
            box["result"] = target()
        except Exception as exc:  # surfaced by the test
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box
