"""The re-route screens: the order page's action, the exception queue's buttons and the
bulk job with its per-order results (issue 20, part 4)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from backoffice.models import BulkJob
from backoffice.services import bulk_job_run
from logistics.models import Shipment
from logistics.services import dispatch
from orders.models import Order, OrderEvent
from orders.services.intake import order_create
from tests.inventory.helpers import channel_with_warehouses, product, stock
from tests.logistics.helpers import FakeAdapter, outbox_site, sandbox_provider

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Damrak 1",
    "city": "Amsterdam",
    "postcode": "1012 LG",
    "country": "NL",
}
ORDER_PAGE_BUDGET = 16  # tests/backoffice/test_order_page.py's budget + the sites for the form
QUEUE_BUDGET = 30


@pytest.fixture
def world():
    """wh-a has 1 SHIRT (first choice), wh-b has 10."""
    sandbox_provider()
    wh_a, wh_b = outbox_site(code="wh-a"), outbox_site(code="wh-b")
    # wh-b joins the channel in the tests, after the orders that must backorder.
    channel = channel_with_warehouses("webshop", [wh_a])
    shirt = product("SHIRT")
    stock(shirt, wh_a, 1)
    stock(shirt, wh_b, 10)
    return channel, wh_b


def _order(channel, reference: str, quantity: int = 2) -> Order:
    with transaction.atomic():
        return order_create(
            channel=channel,
            external_reference=reference,
            currency="EUR",
            customer={"email": "ada@example.com", "name": "Ada Lovelace"},
            shipping_address=ADDRESS,
            lines=[{"sku": "SHIRT", "quantity": quantity, "unit_price": Decimal("10.00")}],
            actor="test",
        )


def _open_to(channel, warehouse) -> None:
    from orders.models import ChannelWarehouse

    ChannelWarehouse.objects.create(channel=channel, warehouse=warehouse, priority=99)


def test_order_page_offers_reroute_with_the_channels_sites(
    client, manager, world, django_assert_max_num_queries
):
    channel, wh_b = world
    _open_to(channel, wh_b)
    order = _order(channel, "R-1", quantity=20)  # more than anywhere: backordered
    assert order.status == Order.Status.BACKORDERED
    client.force_login(manager)
    with django_assert_max_num_queries(ORDER_PAGE_BUDGET):
        response = client.get(f"/desk/orders/{order.number}/")
    html = response.content.decode()
    assert 'id="reroute"' in html
    assert '<option value="wh-a">wh-a' in html
    assert '<option value="wh-b">wh-b' in html


def test_agents_and_unroutable_orders_get_no_reroute_action(client, agent, manager, world):
    channel, _ = world
    order = _order(channel, "R-1", quantity=20)
    client.force_login(agent)
    assert 'id="reroute"' not in client.get(f"/desk/orders/{order.number}/").content.decode()
    Order.objects.filter(pk=order.pk).update(status=Order.Status.SHIPPED)
    client.force_login(manager)
    assert 'id="reroute"' not in client.get(f"/desk/orders/{order.number}/").content.decode()


def test_reroute_from_the_order_page_avoiding_a_site(client, manager, world):
    channel, wh_b = world
    order = _order(channel, "R-1")  # 1 of 2 at wh-a: backordered
    _open_to(channel, wh_b)
    client.force_login(manager)
    response = client.post(
        f"/desk/orders/{order.number}/reroute/",
        {"reason": "wh-a is closed", "avoid_site": "wh-a"},
        follow=True,
    )
    assert "re-routed from wh-a to wh-b; it is now in fulfilment" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.IN_FULFILMENT
    event = OrderEvent.objects.get(order=order, type=OrderEvent.Type.REROUTED)
    assert event.user == manager
    assert "Order re-routed" in response.content.decode()  # in the timeline, in words


def test_reroute_form_refuses_a_site_the_channel_does_not_use(client, manager, world):
    channel, _ = world
    order = _order(channel, "R-1")
    client.force_login(manager)
    response = client.post(
        f"/desk/orders/{order.number}/reroute/",
        {"reason": "x", "avoid_site": "nowhere"},
        follow=True,
    )
    assert "Say why the order is re-routed" in response.content.decode()
    assert not OrderEvent.objects.filter(order=order, type=OrderEvent.Type.REROUTED).exists()


def test_refusal_is_reported_on_the_order_page(client, manager, world):
    channel, _ = world
    order = _order(channel, "R-1", quantity=1)  # in fulfilment, nothing failed
    client.force_login(manager)
    response = client.post(f"/desk/orders/{order.number}/reroute/", {"reason": "try"}, follow=True)
    assert "cannot be re-routed: it is in fulfilment and no dispatch of it failed" in (
        response.content.decode()
    )


def test_exception_queue_rows_link_to_reroute(
    client, manager, world, django_assert_max_num_queries
):
    channel, _ = world
    orders = [_order(channel, f"R-{n}", quantity=5) for n in range(5)]
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(
        created_at=orders[0].created_at.replace(year=2020)
    )
    client.force_login(manager)
    with django_assert_max_num_queries(QUEUE_BUDGET):
        response = client.get("/ops/exceptions/", {"kind": "backorder"})
    html = response.content.decode()
    for order in orders:
        assert f'data-reroute="{order.number}"' in html
    assert 'id="reroute-selected"' in html


def test_rows_ticked_in_the_queue_arrive_with_the_reason_asked(client, manager, world):
    channel, _ = world
    order = _order(channel, "R-1")
    client.force_login(manager)
    response = client.post("/ops/reroute/", {"order_ids": [order.pk], "action": "hold"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<input type="hidden" name="order_ids" value="{order.pk}">' in html
    assert order.number in html


def test_bulk_reroute_by_queue_reports_each_order(
    client, manager, world, django_capture_on_commit_callbacks
):
    channel, wh_b = world
    refused = _order(channel, "R-2", quantity=1)  # wh-a's only unit: in fulfilment
    backordered = _order(channel, "R-1")  # nothing left anywhere it may ship from
    (shipment,) = Shipment.objects.filter(order=refused)
    dispatch.shipment_dispatch(shipment_id=shipment.pk, adapter=FakeAdapter(["ok"]))
    Order.objects.filter(pk=refused.pk).update(status=Order.Status.BACKORDERED)
    _open_to(channel, wh_b)
    client.force_login(manager)
    form = {"queue": "backordered", "reason": "move to wh-b", "avoid_site": "wh-a"}
    preview = client.post("/ops/reroute/", form)
    assert "2 orders recognised" in preview.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/ops/reroute/", {**form, "confirm": "1"})
    assert response.status_code == 303
    job = BulkJob.objects.get(kind=BulkJob.Kind.BULK_REROUTE)
    assert callbacks  # the job is queued once the request's transaction commits
    assert job.parameters["exclude_sites"] == ["wh-a"]
    bulk_job_run(job_id=job.pk)
    job.refresh_from_db()
    outcomes = {number: (outcome, detail) for number, outcome, detail in job.results}
    assert outcomes[backordered.number] == (
        "rerouted",
        "no site → wh-b; now in fulfilment",
    )
    assert outcomes[refused.number][0] == "refused"
    assert "with the provider (dispatched)" in outcomes[refused.number][1]
    assert (job.status, job.succeeded, job.failed) == ("done", 1, 1)
    page = client.get(f"/ops/jobs/{job.pk}/").content.decode()
    assert 'id="job-results"' in page
    assert "refused" in page


def test_bulk_reroute_by_numbers_lists_unknown_entries(client, manager, world):
    channel, _ = world
    order = _order(channel, "R-1")
    client.force_login(manager)
    response = client.post(
        "/ops/reroute/", {"numbers": f"{order.number}, CS-999999 nonsense", "reason": "x"}
    )
    html = response.content.decode()
    assert "1 order recognised" in html
    assert "2 entries not recognised" in html


def test_bulk_reroute_needs_a_selection_and_a_reason(client, manager, world):
    client.force_login(manager)
    response = client.post("/ops/reroute/", {"reason": ""})
    assert response.status_code == 422
    assert "Give order numbers or choose a queue." in response.content.decode()


def test_bulk_reroute_page_within_query_budget(
    client, manager, world, django_assert_max_num_queries
):
    channel, _ = world
    for n in range(5):
        _order(channel, f"R-{n}")
    client.force_login(manager)
    with django_assert_max_num_queries(12):
        response = client.get("/ops/reroute/", {"queue": "backordered"})
    html = response.content.decode()
    assert '<option value="backordered" selected>' in html
    assert '<option value="wh-b">wh-b' in html  # every active site may be avoided
