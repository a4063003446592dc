"""Returns services: label, tracking of the return shipment, receipt with dispositions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import Conflict, ValidationFailed
from inventory.models import StockLevel, StockMovement
from logistics.adapters.base import ProviderRejected, ProviderUnavailable, TrackingStatus
from logistics.models import PartnerWebhookDelivery, Shipment
from orders.models import Order, OrderEvent
from returns.models import ReturnLine, ReturnRequest
from returns.services import (
    ReceivedLine,
    RequestedLine,
    return_label_issue,
    return_receive,
    return_request_create,
)
from tests.logistics.factories import LEGACY_TOPICS, WebhookEndpointFactory
from tests.returns.helpers import FakeReturnAdapter, delivered_order, track

pytestmark = pytest.mark.django_db


def _request(order, *quantities, reason="size_fit") -> ReturnRequest:
    return return_request_create(
        order=order,
        lines=[
            RequestedLine(line_number=i + 1, quantity=q, reason=reason)
            for i, q in enumerate(quantities)
            if q
        ],
        actor="test",
    )


def _issued(order, *quantities) -> ReturnRequest:
    return_request = _request(order, *quantities)
    assert return_label_issue(return_id=return_request.pk, adapter=FakeReturnAdapter()).outcome == (
        "issued"
    )
    return_request.refresh_from_db()
    return return_request


def _receipt(return_request, *specs) -> list[ReceivedLine]:
    lines = list(return_request.lines.order_by("order_line__line_number"))
    return [
        ReceivedLine(return_line_id=line.pk, quantity=q, condition=c, disposition=d)
        for line, (q, c, d) in zip(lines, specs, strict=True)
    ]


def _level(line) -> StockLevel:
    shipment = Shipment.objects.filter(order=line.order, direction="outbound").get()
    return StockLevel.objects.get(product=line.product, warehouse=shipment.warehouse)


def test_label_creates_a_tracked_return_shipment_from_the_original_provider():
    order = delivered_order()
    return_request = _request(order, 1)
    adapter = FakeReturnAdapter()
    result = return_label_issue(return_id=return_request.pk, adapter=adapter)
    assert result.outcome == "issued"
    return_request.refresh_from_db()
    shipment = return_request.return_shipment
    original = return_request.original_shipment
    assert return_request.status == ReturnRequest.Status.LABEL_ISSUED
    assert shipment.direction == Shipment.Direction.RETURN
    assert shipment.provider_id == original.provider_id
    assert shipment.warehouse_id == original.warehouse_id
    assert shipment.tracking_number == f"RT-{original.pk}"
    assert shipment.next_poll_at is not None
    assert adapter.calls[0]["key"] == str(return_request.idempotency_token)
    event = order.events.filter(type=OrderEvent.Type.SHIPMENT_CREATED).last()
    assert event.parameters["direction"] == "return"


def test_label_task_twice_makes_one_label():
    order = delivered_order()
    return_request = _request(order, 1)
    adapter = FakeReturnAdapter()
    return_label_issue(return_id=return_request.pk, adapter=adapter)
    again = return_label_issue(return_id=return_request.pk, adapter=adapter)
    assert again.outcome == "noop"
    assert len(adapter.calls) == 1
    assert Shipment.objects.filter(order=order, direction="return").count() == 1


def test_unavailable_provider_is_retried_and_a_refusal_is_recorded():
    order = delivered_order()
    return_request = _request(order, 1)
    adapter = FakeReturnAdapter(
        [ProviderUnavailable("LSP answered 503"), ProviderRejected("too late", status_code=422)]
    )
    assert return_label_issue(return_id=return_request.pk, adapter=adapter).outcome == "retry"
    assert return_label_issue(return_id=return_request.pk, adapter=adapter).outcome == "failed"
    return_request.refresh_from_db()
    assert return_request.status == ReturnRequest.Status.LABEL_FAILED
    assert return_request.last_error == "too late"
    failed = order.events.get(type=OrderEvent.Type.DISPATCH_FAILED)
    assert failed.parameters["reason"] == "return_label_refused"


def test_return_shipment_tracking_moves_the_return_not_the_order():
    order = delivered_order()
    return_request = _issued(order, 1)
    shipment = return_request.return_shipment
    now = timezone.now()
    track(shipment, TrackingStatus.IN_TRANSIT, now - dt.timedelta(minutes=5))
    return_request.refresh_from_db()
    assert return_request.status == ReturnRequest.Status.IN_TRANSIT
    track(shipment, TrackingStatus.DELIVERED, now)
    return_request.refresh_from_db()
    order.refresh_from_db()
    assert return_request.status == ReturnRequest.Status.DELIVERED
    assert order.status == Order.Status.DELIVERED
    line = order.lines.get(line_number=1)
    assert (line.quantity_shipped, line.quantity_delivered) == (2, 2)
    assert not StockMovement.objects.filter(reference=f"shipment:{shipment.pk}").exists()
    delivered = order.events.filter(type=OrderEvent.Type.DELIVERED, parameters__direction="return")
    assert delivered.count() == 1


def test_receipt_restocks_one_line_and_quarantines_the_other():
    order = delivered_order(quantities=(2, 1))
    return_request = _issued(order, 1, 1)
    line1, line2 = order.lines.order_by("line_number")
    before1, before2 = _level(line1).on_hand, _level(line2).on_hand
    return_receive(
        return_request=return_request,
        lines=_receipt(return_request, (1, "as_new", "restock"), (1, "damaged", "quarantine")),
        actor="test",
    )
    assert _level(line1).on_hand == before1 + 1
    assert _level(line2).on_hand == before2
    movement = StockMovement.objects.get(type=StockMovement.Type.RETURN)
    assert (movement.product_id, movement.on_hand_delta) == (line1.product_id, 1)
    assert movement.reference == f"return:{return_request.number}"
    return_request.refresh_from_db()
    assert return_request.status == ReturnRequest.Status.RECEIVED
    assert return_request.refund_amount_due == Decimal("28.4500")
    quarantined = return_request.lines.get(order_line=line2)
    assert (quarantined.condition, quarantined.disposition) == ("damaged", "quarantine")


def test_receipt_of_part_of_the_order_makes_it_partially_returned():
    order = delivered_order(quantities=(2, 1))
    return_request = _issued(order, 1)
    return_receive(
        return_request=return_request,
        lines=_receipt(return_request, (1, "opened", "restock")),
    )
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_RETURNED
    assert order.lines.get(line_number=1).quantity_returned == 1


def test_receipt_of_everything_makes_it_returned_with_the_timeline():
    order = delivered_order(quantities=(2, 1))
    return_request = _issued(order, 2, 1)
    return_receive(
        return_request=return_request,
        lines=_receipt(return_request, (2, "as_new", "restock"), (1, "defective", "dispose")),
    )
    order.refresh_from_db()
    assert order.status == Order.Status.RETURNED
    received = order.events.get(type=OrderEvent.Type.RETURN_RECEIVED)
    assert received.parameters["refund_amount_due"] == "48.4000"
    assert [line["disposition"] for line in received.parameters["lines"]] == [
        "restock",
        "dispose",
    ]
    path = list(
        order.events.filter(type=OrderEvent.Type.STATUS_CHANGED)
        .order_by("id")
        .values_list("parameters__new_status", flat=True)
    )
    assert path[-1] == "returned"


def test_receipt_sends_the_return_received_partner_webhook():
    order = delivered_order()
    WebhookEndpointFactory(channel=order.channel, topics=LEGACY_TOPICS)
    return_request = _issued(order, 1)
    return_receive(
        return_request=return_request,
        lines=_receipt(return_request, (1, "as_new", "restock")),
    )
    delivery = PartnerWebhookDelivery.objects.get(event="return.received")
    assert delivery.payload["type"] == "return.received"
    assert delivery.payload["data"]["return"]["number"] == return_request.number
    assert delivery.payload["data"]["return"]["refund_amount_due"] == "19.9500"


def test_receipt_refuses_a_missing_line_or_a_missing_disposition():
    order = delivered_order()
    return_request = _issued(order, 1, 1)
    first = return_request.lines.order_by("order_line__line_number").first()
    with pytest.raises(ValidationFailed) as missing:
        return_receive(
            return_request=return_request,
            lines=[ReceivedLine(first.pk, 1, "as_new", "restock")],
        )
    assert missing.value.code == "return_receipt_invalid"
    assert "missing from the receipt" in missing.value.errors[0]["message"]
    with pytest.raises(ValidationFailed) as no_disposition:
        return_receive(
            return_request=return_request,
            lines=_receipt(return_request, (1, "as_new", ""), (1, "as_new", "restock")),
        )
    assert no_disposition.value.errors == [
        {"field": "lines[0].disposition", "message": "Choose a disposition."}
    ]
    assert not StockMovement.objects.filter(type="return").exists()


def test_receipt_of_nothing_at_all_is_refused_and_the_return_stays_open():
    order = delivered_order(quantities=(2, 1))
    return_request = _issued(order, 1, 1)
    with pytest.raises(ValidationFailed) as nothing:
        return_receive(
            return_request=return_request,
            lines=_receipt(return_request, (0, "", ""), (0, "as_new", "restock")),
        )
    assert nothing.value.code == "return_receipt_invalid"
    assert [e["field"] for e in nothing.value.errors] == ["lines"]
    assert "Nothing was received" in nothing.value.errors[0]["message"]
    return_request.refresh_from_db()
    assert return_request.status != ReturnRequest.Status.RECEIVED
    assert not order.events.filter(type=OrderEvent.Type.RETURN_RECEIVED).exists()


def test_a_received_return_cannot_be_received_twice():
    order = delivered_order()
    return_request = _issued(order, 1)
    lines = _receipt(return_request, (1, "as_new", "restock"))
    return_receive(return_request=return_request, lines=lines)
    with pytest.raises(Conflict) as error:
        return_receive(return_request=return_request, lines=lines)
    assert error.value.code == "return_not_receivable"
    assert StockMovement.objects.filter(type="return").count() == 1


def test_received_less_than_requested_refunds_what_came_back():
    order = delivered_order(quantities=(2, 1))
    return_request = _issued(order, 2)
    return_receive(
        return_request=return_request,
        lines=_receipt(return_request, (1, "as_new", "restock")),
    )
    return_request.refresh_from_db()
    assert return_request.refund_amount_due == Decimal("19.9500")
    assert ReturnLine.objects.get().quantity_received == 1
    assert order.lines.get(line_number=1).quantity_returned == 1


def test_sweeper_re_enqueues_a_return_whose_label_task_was_lost(
    django_capture_on_commit_callbacks, monkeypatch, settings
):
    from returns.services import return_labels_sweep

    settings.LOGISTICS_ACK_TIMEOUT_SECONDS = 60
    enqueued = []
    monkeypatch.setattr(
        "returns.tasks.return_label_task.delay", lambda return_id: enqueued.append(return_id)
    )
    order = delivered_order()
    return_request = _request(order, 1)
    assert return_labels_sweep() == 0  # fresh: its own task message is still on its way
    ReturnRequest.objects.filter(pk=return_request.pk).update(
        updated_at=timezone.now() - dt.timedelta(minutes=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert return_labels_sweep() == 1
    assert enqueued == [return_request.pk]
    assert return_labels_sweep() == 0  # claimed: not again before the next timeout


def test_a_return_label_waiting_for_the_customer_is_not_flagged_late():
    from logistics.services.tracking import shipments_flag_late

    order = delivered_order()
    return_request = _issued(order, 1)
    later = timezone.now() + dt.timedelta(days=10)
    assert shipments_flag_late(now=later) == 0
    return_request.return_shipment.refresh_from_db()
    assert return_request.return_shipment.late_flagged_at is None
