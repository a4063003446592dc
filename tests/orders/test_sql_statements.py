"""Each hand-written statement the order intake and the status machine run gives what the
ORM gives for the same question (STYLE.md rule 18)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from core.rows import from_row
from inventory import sql as inventory_sql
from inventory.models import Product
from logistics import sql as logistics_sql
from logistics.models import Provider, ServiceLevel
from orders import sql as orders_sql
from orders.models import Order, OrderEvent
from tests.inventory.factories import ProductFactory
from tests.logistics.factories import ProviderFactory, ServiceLevelFactory
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db


def _rows(sql: str, params: list[object]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_products_by_sku_are_the_orm_products_of_those_skus():
    wanted = [ProductFactory(), ProductFactory()]
    ProductFactory()  # not asked for
    skus = [product.sku for product in wanted] + ["NO-SUCH-SKU"]
    rows = _rows(inventory_sql.PRODUCTS_BY_SKU_SQL, [skus])
    found = {product.pk: product for product in (from_row(Product, row)[0] for row in rows)}
    orm = {product.pk: product for product in Product.objects.filter(sku__in=skus)}
    assert found.keys() == orm.keys() == {product.pk for product in wanted}
    for pk, product in orm.items():
        assert [getattr(found[pk], f.attname) for f in Product._meta.concrete_fields] == [
            getattr(product, f.attname) for f in Product._meta.concrete_fields
        ]


@pytest.mark.parametrize("provider_filter", ["", "mine"])
def test_service_level_by_code_is_the_orm_active_level_with_its_provider(provider_filter):
    mine = ProviderFactory(code="mine")
    other = ProviderFactory(code="other")
    inactive_provider = ProviderFactory(code="asleep", is_active=False)
    ServiceLevelFactory(provider=mine, code="express")
    ServiceLevelFactory(provider=other, code="express")
    ServiceLevelFactory(provider=inactive_provider, code="express")
    ServiceLevelFactory(provider=mine, code="express-old", is_active=False)

    rows = _rows(
        logistics_sql.SERVICE_LEVEL_BY_CODE_SQL, ["express", provider_filter, provider_filter]
    )
    found = set()
    for row in rows:
        level, end = from_row(ServiceLevel, row)
        provider, _ = from_row(Provider, row, end)
        assert level.provider_id == provider.pk
        found.add((level.pk, provider.code))
    orm = ServiceLevel.objects.filter(
        code="express", is_active=True, provider__is_active=True
    ).select_related("provider")
    if provider_filter:
        orm = orm.filter(provider__code=provider_filter)
    assert found == {(level.pk, level.provider.code) for level in orm[:2]}
    assert len(found) == (1 if provider_filter else 2)


def test_next_numbers_draw_fresh_consecutive_values_of_the_order_sequence():
    first = [row[0] for row in _rows(orders_sql.NEXT_NUMBERS_SQL, [3])]
    second = [row[0] for row in _rows(orders_sql.NEXT_NUMBERS_SQL, [1])]
    assert first == list(range(first[0], first[0] + 3))
    assert second[0] > first[-1]


@pytest.mark.parametrize("cancelled", [False, True])
def test_status_with_events_writes_what_the_orm_would(cancelled):
    by_sql, by_orm = OrderFactory(status="allocated"), OrderFactory(status="allocated")
    status = "cancelled" if cancelled else "shipped"
    at = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=5)
    events = [("status_changed", {"old": "allocated", "new": status}), ("note_added", {"a": 1})]

    head: list[object] = [status, at] + ([at] if cancelled else [])
    params: list[object] = [*head, by_sql.pk]
    for kind, parameters in events:
        field = OrderEvent._meta.get_field("parameters")
        params += [by_sql.pk, kind, field.get_db_prep_save(parameters, connection), None, "t", at]
    sql = orders_sql.status_with_events_sql(event_count=len(events), cancelled=cancelled)
    ids = [row[0] for row in _rows(sql, params)]

    # update() rather than save(): the timestamps are the caller's, not auto_now's.
    Order.objects.filter(pk=by_orm.pk).update(
        status=status, updated_at=at, **({"cancelled_at": at} if cancelled else {})
    )
    for kind, parameters in events:
        event = OrderEvent.objects.create(order=by_orm, type=kind, parameters=parameters, actor="t")
        OrderEvent.objects.filter(pk=event.pk).update(created_at=at)

    def state(order: Order) -> tuple:
        order.refresh_from_db()
        written = OrderEvent.objects.filter(order=order).order_by("id")
        return (
            order.status,
            order.updated_at,
            order.cancelled_at,
            [(e.type, e.parameters, e.user_id, e.actor, e.created_at) for e in written],
        )

    assert state(by_sql) == state(by_orm)
    assert ids == list(
        OrderEvent.objects.filter(order=by_sql).order_by("id").values_list("id", flat=True)
    )


def test_status_with_events_writes_the_promise_when_asked():
    order = OrderFactory(status="allocated")
    at = timezone.now().replace(microsecond=0)
    field = OrderEvent._meta.get_field("parameters")
    params: list[object] = ["in_fulfilment", at, dt.date(2026, 12, 7), dt.date(2026, 12, 9)]
    params += [order.pk, order.pk, "note_added", field.get_db_prep_save({}, connection), None]
    params += ["t", at]
    sql = orders_sql.status_with_events_sql(event_count=1, cancelled=False, promise=True)
    _rows(sql, params)
    order.refresh_from_db()
    assert (order.status, order.ship_by, order.promised_delivery_date) == (
        "in_fulfilment",
        dt.date(2026, 12, 7),
        dt.date(2026, 12, 9),
    )
