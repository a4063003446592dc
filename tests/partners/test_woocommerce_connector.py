"""The WooCommerce connector against a local fake shop (tests/fakes/woocommerce.py):
pull into intake (once), cursor, exceptions, fulfilment/cancellation/stock push,
backoff and circuit breaker, credentials kept secret."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from orders.models import ChannelWarehouse, Order
from orders.services.cancellation import order_cancel
from partners.connector_services import connector_run, connectors_due
from partners.connectors.base import OrdersCursor
from partners.connectors.woocommerce import order_map
from partners.models import ChannelConnector, ConnectorException, ConnectorOrder
from tests.fakes.woocommerce import FakeWooCommerce
from tests.inventory.factories import ProductFactory, StockLevelFactory, WarehouseFactory
from tests.logistics.factories import ServiceLevelFactory, ShipmentFactory
from tests.orders.factories import ChannelFactory

SECRET = "cs_s3cr3t_never_shown_0123456789"


@pytest.fixture
def fake(settings):
    shop = FakeWooCommerce(consumer_key="ck_live_key_abc", consumer_secret=SECRET).start()
    settings.OUTBOUND_ALLOW_HOSTS = [shop.host_port]
    settings.CHANNEL_HTTP_TIMEOUT_SECONDS = 1.0
    settings.CHANNEL_CONNECTOR_FAILURE_THRESHOLD = 3
    settings.CHANNEL_CONNECTOR_RETRY_BASE_SECONDS = 10.0
    settings.CHANNEL_CONNECTOR_RETRY_MAX_SECONDS = 60.0
    settings.CHANNEL_CONNECTOR_COOLDOWN_SECONDS = 300.0
    yield shop
    shop.stop()


def _world():
    channel = ChannelFactory(code="woo-shop")
    warehouse = WarehouseFactory(code="woo-wh")
    ChannelWarehouse.objects.create(channel=channel, warehouse=warehouse, priority=1)
    for sku in ("WOO-TEE", "WOO-MUG"):
        StockLevelFactory(product=ProductFactory(sku=sku), warehouse=warehouse, on_hand=50)
    ServiceLevelFactory(provider__code="woolsp", code="standard")
    return channel, warehouse


@pytest.fixture
def connector(db, fake):
    channel, _ = _world()
    return ChannelConnector.objects.create(
        channel=channel,
        base_url=fake.base_url,
        consumer_key="ck_live_key_abc",
        consumer_secret=SECRET,
        service_level_map={"flat_rate": "woolsp:standard"},
        push_stock=False,
    )


def _run(connector, **kwargs):
    return connector_run(connector_id=connector.pk, force=True, **kwargs)


def _orders(connector):
    return Order.objects.filter(channel=connector.channel)


# --- pull ------------------------------------------------------------------------------


def test_pull_creates_each_order_once_even_when_pulled_twice(connector, fake):
    remote = [fake.order_add() for _ in range(3)]
    first = _run(connector)
    assert (first.created, first.error) == (3, "")
    second = _run(connector)
    assert (second.created, second.error) == (0, "")
    assert sorted(_orders(connector).values_list("external_reference", flat=True)) == sorted(
        str(o["id"]) for o in remote
    )
    assert ConnectorOrder.objects.filter(connector=connector).count() == 3
    # The second pull asked only for what changed after the cursor.
    assert "modified_after" in fake.calls("GET", "/orders")[-1]["query"]


def test_pull_maps_the_order_through_intake(connector, fake):
    remote = fake.order_add(sku="WOO-MUG", quantity=2)
    _run(connector)
    order = _orders(connector).get()
    assert order.customer_email == "grace@example.com"
    assert order.customer_name == "Grace Hopper"
    assert (order.shipping_line1, order.shipping_city, order.shipping_country) == (
        "Keizersgracht 1",
        "Amsterdam",
        "NL",
    )
    assert order.currency == "EUR"
    assert order.total_amount == Decimal("39.90")
    assert order.service_level.code == "standard"
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines.all()] == [
        ("WOO-MUG", 2, Decimal("19.95"))
    ]
    assert order.placed_at == dt.datetime.fromisoformat(remote["date_created_gmt"]).replace(
        tzinfo=dt.UTC
    )


def test_cursor_walks_pages_and_stops_at_the_last_order(connector, fake):
    remote = [fake.order_add() for _ in range(55)]  # two pages of 50
    result = _run(connector)
    assert result.created == 55
    pages = [call["query"]["page"] for call in fake.calls("GET", "/orders")]
    assert pages == ["1", "2"]
    connector.refresh_from_db()
    assert connector.orders_last_id == remote[-1]["id"]
    assert connector.orders_modified_after == dt.datetime.fromisoformat(
        remote[-1]["date_modified_gmt"]
    ).replace(tzinfo=dt.UTC)


def test_failure_on_a_later_page_keeps_what_committed_and_resumes(connector, fake):
    for _ in range(55):
        fake.order_add()
    fake.fail_next(1, status=503, after=1)  # page 1 answers, page 2 fails
    first = _run(connector)
    assert first.created == 50
    assert "HTTP 503" in first.error
    second = _run(connector)
    assert (second.created, second.error) == (5, "")
    assert _orders(connector).count() == 55


def test_order_changed_in_the_cursors_second_is_not_lost(connector, fake):
    first = fake.order_add()
    _run(connector)
    # Same modification second as the cursor, higher id: modified_after is exclusive.
    fake.order_add(date_modified_gmt=first["date_modified_gmt"])
    result = _run(connector)
    assert result.created == 1
    assert _orders(connector).count() == 2


def test_only_processing_orders_are_pulled(connector, fake):
    fake.order_add(status="pending")
    fake.order_add(status="on-hold")
    fake.order_add()
    assert _run(connector).created == 1


def test_unmappable_orders_go_on_the_exception_list_once(connector, fake):
    unknown = fake.order_add(sku="NOT-A-SKU")
    no_sku = fake.order_add(sku="")
    bad = fake.order_add()
    fake.order_touch(bad["id"], shipping={**bad["shipping"], "country": "XX"})
    result = _run(connector)
    assert (result.created, result.exceptions) == (0, 3)
    reasons = dict(ConnectorException.objects.values_list("remote_id", "reason"))
    assert "Unknown SKU 'NOT-A-SKU'" in reasons[unknown["id"]]
    assert "has no SKU" in reasons[no_sku["id"]]
    assert "shipping_address.country" in reasons[bad["id"]]
    # Not retried on every run: the cursor moved past them.
    again = _run(connector)
    assert (again.created, again.exceptions) == (0, 0)
    assert ConnectorException.objects.filter(resolved_at__isnull=True).count() == 3
    assert _orders(connector).count() == 0


def test_an_exception_fixed_in_the_shop_is_taken_and_resolved(connector, fake):
    remote = fake.order_add(sku="NOT-A-SKU")
    _run(connector)
    line = {**remote["line_items"][0], "sku": "WOO-TEE"}
    fake.order_touch(remote["id"], line_items=[line])
    result = _run(connector)
    assert result.created == 1
    exception = ConnectorException.objects.get(remote_id=remote["id"])
    assert exception.resolved_at is not None


def test_order_map_prices_units_from_the_line_total_and_falls_back_to_billing():
    data = {
        "id": 7,
        "number": "A-7",
        "currency": "eur",
        "date_created_gmt": "2026-01-02T03:04:05",
        "date_modified_gmt": "2026-01-02T03:04:06",
        "billing": {
            "first_name": "Ada",
            "last_name": "L",
            "address_1": "Street 1",
            "city": "Utrecht",
            "country": "nl",
            "email": "ada@example.com",
        },
        "shipping": {"first_name": "", "address_1": ""},
        "line_items": [{"sku": "X", "quantity": 3, "total": "10.00", "name": "X"}],
        "shipping_lines": [{"method_id": "express"}],
    }
    remote = order_map(data, service_levels={"express": "lsp:express"}, default_level="")
    assert remote.problems == []
    assert remote.payload["lines"] == [{"sku": "X", "quantity": 3, "unit_price": "3.33"}]
    assert remote.payload["shipping_address"]["line1"] == "Street 1"
    assert remote.payload["shipping_address"]["country"] == "NL"
    assert remote.payload["service_level"] == "lsp:express"
    assert remote.payload["external_reference"] == "7"
    assert remote.modified_at == dt.datetime(2026, 1, 2, 3, 4, 6, tzinfo=dt.UTC)


def test_cursor_comparison_is_by_time_then_id():
    moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cursor = OrdersCursor(moment, 10)
    assert not cursor.comes_after(moment, 10)
    assert not cursor.comes_after(moment, 9)
    assert cursor.comes_after(moment, 11)
    assert cursor.comes_after(moment + dt.timedelta(seconds=1), 1)
    assert OrdersCursor().comes_after(moment, 1)


# --- push ------------------------------------------------------------------------------


def _shipped(connector, remote, tracking="TRK-WOO-1"):
    order = _orders(connector).get(external_reference=str(remote["id"]))
    Order.objects.filter(pk=order.pk).update(status=Order.Status.SHIPPED)
    ShipmentFactory(order=order, tracking_number=tracking, status="in_transit")
    return order


@pytest.mark.parametrize(
    ("lost", "path"),
    [("PUT", "/orders/{id}"), ("POST", "/orders/{id}/notes")],
    ids=["status-answer-lost", "note-answer-lost"],
)
def test_fulfilment_note_is_added_exactly_once_when_an_answer_is_lost(connector, fake, lost, path):
    remote = fake.order_add()
    _run(connector)
    order = _shipped(connector, remote)
    fake.drop_next(lost, path.format(id=remote["id"]))
    first = _run(connector)
    assert first.error  # the lost answer is a failure: retried
    link = ConnectorOrder.objects.get(order=order)
    assert link.fulfilment_pushed_at is None
    second = _run(connector)
    assert (second.error, second.fulfilments_pushed) == ("", 1)
    notes = fake.notes[remote["id"]]
    assert len(notes) == 1
    assert "TRK-WOO-1" in notes[0]["note"]
    assert notes[0]["customer_note"] is True
    assert fake.orders[remote["id"]]["status"] == "completed"
    link.refresh_from_db()
    assert link.fulfilment_pushed_at is not None
    assert link.fulfilment_note_id == notes[0]["id"]
    # Pushed once: a later run leaves it alone.
    puts = len(fake.calls("PUT"))
    assert _run(connector).fulfilments_pushed == 0
    assert len(fake.calls("PUT")) == puts


def test_orders_not_shipped_are_not_pushed(connector, fake):
    fake.order_add()
    _run(connector)
    _run(connector)
    assert fake.calls("PUT") == []
    assert fake.calls("POST") == []


def test_cancellation_is_pushed_once(connector, fake):
    remote = fake.order_add()
    _run(connector)
    order = _orders(connector).get()
    order_cancel(order=order, reason="customer asked")
    result = _run(connector)
    assert result.cancellations_pushed == 1
    assert fake.orders[remote["id"]]["status"] == "cancelled"
    assert json.loads(fake.calls("PUT")[0]["body"]) == {"status": "cancelled"}
    assert _run(connector).cancellations_pushed == 0
    assert len(fake.calls("PUT")) == 1


def test_stock_push_sets_what_the_channel_can_sell_for_changed_skus(connector, fake):
    ChannelConnector.objects.filter(pk=connector.pk).update(push_stock=True)
    tee = fake.product_add(sku="WOO-TEE", stock_quantity=0)
    mug = fake.product_add(sku="WOO-MUG")
    fake.order_add(sku="WOO-TEE", quantity=3)  # reserves 3 of 50 once pulled
    result = _run(connector)
    assert (result.error, result.stock_pushed) == ("", 2)
    assert (tee["stock_quantity"], tee["manage_stock"]) == (47, True)
    assert (mug["stock_quantity"], mug["manage_stock"]) == (50, True)
    # Nothing changed: nothing pushed.
    batches = len(fake.calls("POST", "/products/batch"))
    assert _run(connector).stock_pushed == 0
    assert len(fake.calls("POST", "/products/batch")) == batches
    # One level changes: only that SKU goes.
    from inventory.models import StockLevel

    StockLevel.objects.filter(product__sku="WOO-MUG").update(
        on_hand=20, updated_at=timezone.now() + dt.timedelta(seconds=1)
    )
    assert _run(connector).stock_pushed == 1
    body = json.loads(fake.calls("POST", "/products/batch")[-1]["body"])
    assert body == {"update": [{"id": mug["id"], "stock_quantity": 20, "manage_stock": True}]}


def test_a_failed_stock_push_is_repeated(connector, fake):
    ChannelConnector.objects.filter(pk=connector.pk).update(push_stock=True)
    tee = fake.product_add(sku="WOO-TEE")
    fake.fail_next(1, status=500, after=2)  # orders list, products lookup, then the batch
    assert "HTTP 500" in _run(connector).error
    assert tee["stock_quantity"] is None
    assert _run(connector).stock_pushed == 1
    assert tee["stock_quantity"] == 50


# --- backoff and breaker ---------------------------------------------------------------


def _due(connector):
    ChannelConnector.objects.filter(pk=connector.pk).update(next_attempt_at=None)


def test_failures_back_off_exponentially_then_open_the_breaker(connector, fake):
    fake.fail_next(20, status=500)
    delays = []
    for _ in range(3):
        before = timezone.now()
        result = connector_run(connector_id=connector.pk)
        assert "HTTP 500" in result.error
        connector.refresh_from_db()
        delays.append(round((connector.next_attempt_at - before).total_seconds()))
        # Backing off: a run now does nothing.
        assert connector_run(connector_id=connector.pk).skipped == "not due"
        _due(connector)
    assert delays == [10, 20, 40]
    assert connector.consecutive_failures == 3
    assert connector.breaker_state == "open"
    assert connector.pk not in connectors_due()
    calls = len(fake.requests)
    assert connector_run(connector_id=connector.pk).skipped == "not due"
    assert len(fake.requests) == calls  # an open breaker sends nothing


def test_half_open_probe_closes_the_breaker_on_success(connector, fake):
    ChannelConnector.objects.filter(pk=connector.pk).update(
        consecutive_failures=3, open_until=timezone.now() - dt.timedelta(seconds=1)
    )
    connector.refresh_from_db()
    assert connector.breaker_state == "half-open"
    assert connector.pk in connectors_due()
    fake.order_add()
    result = connector_run(connector_id=connector.pk)
    assert (result.error, result.created, result.breaker) == ("", 1, "closed")
    connector.refresh_from_db()
    assert (connector.consecutive_failures, connector.open_until) == (0, None)
    assert connector.last_success_at is not None


def test_failed_half_open_probe_opens_the_breaker_again(connector, fake):
    ChannelConnector.objects.filter(pk=connector.pk).update(
        consecutive_failures=1, open_until=timezone.now() - dt.timedelta(seconds=1)
    )
    fake.fail_next(1, status=502)
    result = connector_run(connector_id=connector.pk)
    assert result.breaker == "open"
    connector.refresh_from_db()
    assert connector.open_until > timezone.now() + dt.timedelta(seconds=290)


def test_429_waits_at_least_retry_after(connector, fake):
    fake.fail_next(1, status=429, retry_after=120)
    before = timezone.now()
    assert "HTTP 429" in connector_run(connector_id=connector.pk).error
    connector.refresh_from_db()
    assert connector.next_attempt_at >= before + dt.timedelta(seconds=119)


def test_a_slow_shop_times_out_as_a_failure(connector, fake):
    fake.slow_next(1, seconds=2.0)
    result = _run(connector)
    assert "timed out" in result.error
    connector.refresh_from_db()
    assert connector.consecutive_failures == 1


def test_plain_http_to_a_host_not_allow_listed_is_refused(connector, fake, settings):
    settings.OUTBOUND_ALLOW_HOSTS = []
    result = _run(connector)
    assert "https" in result.error
    assert fake.requests == []


# --- credentials -----------------------------------------------------------------------


def test_credentials_are_stored_encrypted(connector):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT consumer_key, consumer_secret FROM partners_channelconnector WHERE id = %s",
            [connector.pk],
        )
        key, secret = cursor.fetchone()
    assert SECRET not in secret
    assert "ck_live_key_abc" not in key
    assert ChannelConnector.objects.get(pk=connector.pk).consumer_secret == SECRET


def test_wrong_credentials_fail_without_the_secret_in_logs_or_state(connector, fake, caplog):
    fake.consumer_secret = "cs_other"
    with caplog.at_level(logging.DEBUG):
        result = _run(connector)
    assert "refused the credentials" in result.error
    connector.refresh_from_db()
    assert SECRET not in connector.last_error
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "connector.failed" in logged
    assert SECRET not in logged
    assert "ck_live_key_abc" not in logged
    # Basic auth was sent (to the fake), never anything else.
    assert fake.requests[0]["authorization"].startswith("Basic ")


def test_admin_pages_never_show_the_credentials(connector, admin_client):
    change = admin_client.get(
        reverse("admin:partners_channelconnector_change", args=[connector.pk])
    )
    listing = admin_client.get(reverse("admin:partners_channelconnector_changelist"))
    assert change.status_code == listing.status_code == 200
    for response in (change, listing):
        text = response.content.decode()
        assert SECRET not in text
        assert "ck_live_key_abc" not in text
    assert "Circuit breaker" in change.content.decode()


def test_admin_run_now_queues_a_forced_run(connector, admin_client, monkeypatch):
    queued = []
    monkeypatch.setattr(
        "partners.tasks.connector_run_task.delay", lambda **kwargs: queued.append(kwargs)
    )
    response = admin_client.post(
        reverse("admin:partners_channelconnector_changelist"),
        {"action": "run_now", "_selected_action": [connector.pk]},
    )
    assert response.status_code == 302
    assert queued == [{"connector_id": connector.pk, "force": True}]


# --- concurrency -----------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_create_each_order_once(fake):
    channel, _ = _world()
    connector = ChannelConnector.objects.create(
        channel=channel,
        base_url=fake.base_url,
        consumer_key="ck_live_key_abc",
        consumer_secret=SECRET,
        service_level_map={"flat_rate": "woolsp:standard"},
        push_stock=False,
    )
    for _ in range(10):
        fake.order_add()
    barrier = threading.Barrier(3)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(connector_run(connector_id=connector.pk, force=True))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Once more without a lease in the way: still nothing new.
    results.append(connector_run(connector_id=connector.pk, force=True))
    assert sum(r.created for r in results) == 10
    assert Order.objects.filter(channel=channel).count() == 10
    assert ConnectorOrder.objects.filter(connector=connector).count() == 10


def test_beat_queues_one_run_per_due_connector(connector, monkeypatch):
    from partners.tasks import connectors_run_due_task

    queued = []
    monkeypatch.setattr(
        "partners.tasks.connector_run_task.delay", lambda **kwargs: queued.append(kwargs)
    )
    assert connectors_run_due_task() == 1
    assert queued == [{"connector_id": connector.pk}]
    ChannelConnector.objects.filter(pk=connector.pk).update(is_active=False)
    assert connectors_run_due_task() == 0


def test_admin_creates_a_connector_with_write_only_credentials(db, fake, admin_client):
    channel, _ = _world()
    url = reverse("admin:partners_channelconnector_add")
    form = {
        "channel": channel.pk,
        "kind": "woocommerce",
        "base_url": fake.base_url,
        "consumer_key": "ck_live_key_abc",
        "consumer_secret": SECRET,
        "is_active": "on",
        "pull_orders": "on",
        "service_level_map": "{}",
        "default_service_level": "",
    }
    response = admin_client.post(url, form, follow=True)
    assert response.status_code == 200
    assert SECRET not in response.content.decode()
    connector = ChannelConnector.objects.get(channel=channel)
    assert connector.consumer_secret == SECRET
    # Plain HTTP to a host outside OUTBOUND_ALLOW_HOSTS is refused when saved.
    other = ChannelFactory(code="woo-other")
    refused = admin_client.post(
        url, {**form, "channel": other.pk, "base_url": "http://127.0.0.2:8080"}
    )
    assert refused.status_code == 200
    assert not ChannelConnector.objects.filter(channel=other).exists()


def test_an_exception_entered_by_hand_is_resolved_not_doubled(connector, fake):
    from orders.services.intake import order_create

    remote = fake.order_add(sku="NOT-A-SKU")
    _run(connector)
    # Ops enter the order themselves with the shop's id, then the shop changes it.
    order_create(
        channel=connector.channel,
        external_reference=str(remote["id"]),
        currency="EUR",
        customer={"email": "grace@example.com", "name": "Grace Hopper"},
        shipping_address={"name": "G", "line1": "Keizersgracht 1", "city": "A", "country": "NL"},
        lines=[{"sku": "WOO-TEE", "quantity": 1, "unit_price": Decimal("19.95")}],
    )
    line = {**remote["line_items"][0], "sku": "WOO-TEE"}
    fake.order_touch(remote["id"], line_items=[line])
    result = _run(connector)
    assert (result.created, result.already_present) == (0, 1)
    assert _orders(connector).count() == 1
    assert ConnectorException.objects.get(remote_id=remote["id"]).resolved_at is not None
