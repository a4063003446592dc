import datetime as dt
from collections import Counter
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F, Sum

from core import roles
from inventory.models import Allocation, StockLevel, StockMovement, Warehouse
from logistics.models import Provider, Shipment, TrackingEvent
from orders.models import Channel, Hold, Order, OrderEvent, OrderLine, phone_key, postcode_key
from orders.numbers import order_numbers_next

pytestmark = pytest.mark.django_db

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Four demo users per seed: the production hasher would dominate these tests.
    settings.PASSWORD_HASHERS = FAST_HASHERS


DOMAIN_MODELS = [
    m for m in apps.get_models() if m._meta.app_label in {"orders", "inventory", "logistics"}
]


def _seed(**options):
    call_command("seed_demo", workers=1, stdout=StringIO(), **options)


def _table_counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in DOMAIN_MODELS} | {
        "users": get_user_model().objects.count()
    }


def _ledger_mismatches() -> list[tuple]:
    sums = {
        (row["product_id"], row["warehouse_id"]): (row["on_hand"], row["reserved"])
        for row in StockMovement.objects.values("product_id", "warehouse_id").annotate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
        )
    }
    return [
        (level.product_id, level.warehouse_id)
        for level in StockLevel.objects.all()
        if sums.get((level.product_id, level.warehouse_id), (0, 0))
        != (level.on_hand, level.reserved)
    ]


def test_migrations_alone_create_no_demo_users():
    assert (
        not get_user_model()
        .objects.filter(username__in=["warehouse", "agent", "manager", "admin"])
        .exists()
    )


def test_seed_demo_twice_changes_nothing():
    _seed()
    first = _table_counts()
    levels = list(StockLevel.objects.order_by("id").values_list("id", "on_hand", "reserved"))
    _seed()
    assert _table_counts() == first
    assert (
        list(StockLevel.objects.order_by("id").values_list("id", "on_hand", "reserved")) == levels
    )


def test_seed_demo_creates_the_contract_channels_with_fulfilment_warehouses():
    _seed()
    assert set(Channel.objects.values_list("code", flat=True)) >= {
        "webshop",
        "marketplace",
        "wholesale",
    }
    for code in ("webshop", "marketplace", "wholesale"):
        assert Channel.objects.get(code=code).fulfilment_rules.count() >= 1


def test_seed_demo_creates_about_200_products_with_customs_data():
    _seed()
    products = apps.get_model("inventory", "Product").objects.all()
    assert 180 <= products.count() <= 220
    assert not products.filter(barcode__isnull=True).exists()
    assert not products.filter(hs_code="").exists()
    assert not products.filter(country_of_origin="").exists()
    assert not products.filter(customs_value__isnull=True).exists()
    assert not products.filter(weight_grams=0).exists()


def test_seed_demo_creates_one_own_and_two_lsp_warehouses_linked_to_providers():
    _seed()
    assert Warehouse.objects.filter(kind=Warehouse.Kind.OWN).count() == 1
    lsp = Warehouse.objects.filter(kind=Warehouse.Kind.LSP)
    assert lsp.count() == 2
    assert not lsp.filter(provider__isnull=True).exists()


def test_sandbox_provider_uses_generic_adapter_at_sandbox_url_with_secret():
    _seed()
    assert Provider.objects.filter(kind=Provider.Kind.THREE_PL).count() == 2
    sandbox = Provider.objects.get(code="sandbox")
    assert sandbox.adapter == "generic_http"
    assert sandbox.base_url == settings.LSP_SANDBOX_URL
    assert sandbox.webhook_secret.startswith("whsec_")
    for provider in Provider.objects.filter(kind=Provider.Kind.THREE_PL):
        assert provider.service_levels.count() >= 2


def test_the_demo_carrier_account_points_at_the_sandbox():
    from logistics.models import CarrierAccount

    _seed()
    account = CarrierAccount.objects.select_related("provider").get(code="dhl-demo")
    assert account.provider.kind == Provider.Kind.CARRIER
    assert account.provider.adapter == "karrio"
    assert account.carrier_name == "dhl_parcel_de"
    assert account.base_url == settings.LSP_SANDBOX_URL
    assert account.credentials  # stored encrypted, never empty


def test_demo_users_have_their_role_the_demo_password_and_staff_access():
    _seed()
    user_model = get_user_model()
    expected = {
        "warehouse": roles.WAREHOUSE,
        "agent": roles.CUSTOMER_SERVICE,
        "manager": roles.OPERATIONS_MANAGER,
    }
    for username, group in expected.items():
        user = user_model.objects.get(username=username)
        assert user.is_staff
        assert not user.is_superuser
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert user.check_password(settings.DEMO_PASSWORD)
    admin = user_model.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(settings.DEMO_PASSWORD)


def test_seed_demo_prints_the_logins():

    out = StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    for username in ("warehouse", "agent", "manager", "admin"):
        assert username in text
    assert settings.DEMO_PASSWORD in text


def test_demo_orders_cover_every_status():
    _seed()
    assert set(Order.objects.values_list("status", flat=True)) == set(Order.Status.values)


def test_demo_ledger_sums_equal_levels():
    _seed()
    assert StockMovement.objects.filter(type=StockMovement.Type.SHIPMENT).exists()
    assert _ledger_mismatches() == []


def test_demo_open_low_stock_alerts_are_exactly_the_low_levels():
    # The seeded levels and bulk orders bypass the stock service; the admin's open
    # alerts must still agree with the dashboard and the queue (issue 17).
    from inventory.models import LowStockAlert

    _seed(orders=300)
    low = set(StockLevel.objects.low().values_list("product_id", "warehouse_id"))
    assert low
    assert low == set(
        LowStockAlert.objects.filter(resolved_at__isnull=True).values_list(
            "product_id", "warehouse_id"
        )
    )


def test_reserved_stock_equals_active_allocations():
    _seed(orders=300)
    active = Counter()
    for allocation in Allocation.objects.filter(status=Allocation.Status.ACTIVE).select_related(
        "order_line"
    ):
        active[(allocation.order_line.product_id, allocation.warehouse_id)] += allocation.quantity
    assert sum(active.values()) > 0
    for level in StockLevel.objects.all():
        assert level.reserved == active[(level.product_id, level.warehouse_id)]


def test_statuses_imply_consistent_lines_shipments_and_holds():
    _seed()
    for order in Order.objects.prefetch_related("lines", "shipments", "holds"):
        lines = list(order.lines.all())
        assert lines
        assert order.total_amount == sum(line.quantity * line.unit_price for line in lines)
        shipped = sum(line.quantity_shipped for line in lines)
        ordered = sum(line.quantity for line in lines)
        if order.status in {"received", "on_hold", "backordered", "allocated", "cancelled"}:
            assert shipped == 0
        if order.status in {"shipped", "delivered", "returned"}:
            assert shipped == ordered
        if order.status == "delivered":
            assert all(line.quantity_delivered == line.quantity for line in lines)
        if order.status == "returned":
            assert all(line.quantity_returned == line.quantity for line in lines)
        if order.status == "on_hold":
            assert order.holds.filter(released_at__isnull=True).count() == 1
        if order.status in {"shipped", "delivered", "partially_shipped"}:
            assert any(s.tracking_number for s in order.shipments.all())
        assert (order.cancelled_at is not None) == (order.status == "cancelled")


def test_every_status_change_is_on_the_timeline():
    _seed()
    for order in Order.objects.exclude(status="received")[:30]:
        changes = order.events.filter(type=OrderEvent.Type.STATUS_CHANGED).order_by(
            "created_at", "id"
        )
        assert changes.last().parameters["new_status"] == order.status
        assert order.events.filter(type=OrderEvent.Type.RECEIVED).count() == 1


def test_orders_option_creates_exactly_n_more_orders_with_lines():
    _seed()
    before = Order.objects.count()
    _seed(orders=250)
    assert Order.objects.count() == before + 250
    assert not Order.objects.filter(lines__isnull=True).exists()
    assert OrderLine.objects.count() >= 250


def test_generated_orders_fill_the_desk_search_keys():
    _seed(orders=200)
    orders = Order.objects.all()
    assert not orders.filter(customer_phone_key="").exists()
    for order in orders[:50]:
        assert order.customer_phone_key == phone_key(order.customer_phone)
        assert order.shipping_postcode_key == postcode_key(order.shipping_postcode)


def test_generated_shipped_orders_are_found_by_tracking_number():
    _seed(orders=200)
    shipped = Order.objects.filter(status__in=["shipped", "delivered"])
    assert shipped.exists()
    for order in shipped[:20]:
        tracking = order.shipments.exclude(tracking_number="").first().tracking_number
        assert Shipment.objects.filter(tracking_number=tracking).get().order_id == order.id
        assert TrackingEvent.objects.filter(shipment__tracking_number=tracking).exists()


def test_generated_orders_take_numbers_from_the_order_sequence():
    _seed(orders=50)
    numbers = list(Order.objects.values_list("number", flat=True))
    assert len(set(numbers)) == len(numbers)
    highest = max(int(n.removeprefix("CS-")) for n in numbers)
    (next_number,) = order_numbers_next(count=1)
    assert int(next_number.removeprefix("CS-")) > highest


def test_generated_orders_keep_ledger_equal_to_levels():
    _seed(orders=400)
    assert _ledger_mismatches() == []
    assert not StockLevel.objects.filter(reserved__gt=F("on_hand")).exists()


def test_holds_of_generated_orders_are_active():
    _seed(orders=300)
    on_hold = Order.objects.filter(status="on_hold")
    assert Hold.objects.filter(order__in=on_hold, released_at__isnull=True).count() == (
        on_hold.count()
    )


def test_generated_orders_are_found_by_every_desk_identifier():
    from backoffice.selectors import desk_search

    _seed(orders=150)
    order = Order.objects.filter(status="delivered").order_by("id").last()
    tracking = order.shipments.first().tracking_number
    local_phone = "0" + order.customer_phone.split(" ", 1)[1]
    for query in (
        order.number,
        order.external_reference,
        order.customer_email.upper(),
        local_phone,
        order.shipping_postcode.replace(" ", "").lower(),
        tracking,
    ):
        assert order.id in [hit.order.id for hit in desk_search(query=query)], query


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_parallel_writer_processes_produce_consistent_orders_and_stock():
    call_command(
        "seed_demo",
        orders=2000,
        workers=2,
        chunk_size=250,
        stdout=StringIO(),
    )
    assert Order.objects.exclude(external_reference__startswith="DEMO-").count() == 2000
    assert _ledger_mismatches() == []
    numbers = list(Order.objects.values_list("number", flat=True))
    assert len(set(numbers)) == len(numbers)
    assert not Order.objects.filter(lines__isnull=True).exists()


def test_orders_inside_an_open_transaction_are_written_by_this_process():
    call_command("seed_demo", orders=30, workers=2, stdout=StringIO())
    assert Order.objects.exclude(external_reference__startswith="DEMO-").count() == 30


def test_demo_timelines_show_shipments_dispatch_and_delivery():
    _seed()
    order = Order.objects.filter(status="delivered", external_reference__startswith="DEMO-").first()
    types = list(order.events.order_by("created_at", "id").values_list("type", flat=True))
    for expected in ("received", "shipment_created", "shipment_dispatched", "shipped", "delivered"):
        assert expected in types
    assert types[0] == "received"
    delivered = order.events.get(type="delivered")
    assert delivered.parameters["tracking_number"] == order.shipments.get().tracking_number


def test_bulk_writer_fills_every_required_column():
    """A NOT NULL column without a database default that COPY leaves out breaks seeding."""
    from django.db import connection

    from demo.bulk import ROW_TYPES

    with connection.cursor() as cursor:
        for model, row_type in ROW_TYPES.items():
            table, columns = model._meta.db_table, row_type._fields
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                " AND is_nullable = 'NO' AND column_default IS NULL"
                " AND is_identity = 'NO'",
                [table],
            )
            missing = {row[0] for row in cursor.fetchall()} - set(columns)
            assert not missing, f"{row_type.__name__} (for {table}) lacks {sorted(missing)}"


def test_demo_orders_carry_the_delivery_promise_of_their_shipments():
    _seed()
    demo = Order.objects.filter(external_reference__startswith="DEMO-")
    assert not demo.filter(status__in=["received", "on_hold", "backordered"], ship_by__isnull=False)
    promised = demo.filter(status="shipped")
    assert promised.exists()
    assert not promised.filter(ship_by__isnull=True).exists()
    for order in promised[:20]:
        shipment = order.shipments.get()
        assert (shipment.ship_by, shipment.promised_delivery_date) == (
            order.ship_by,
            order.promised_delivery_date,
        )
        assert order.ship_by >= order.placed_at.date() - dt.timedelta(days=1)
