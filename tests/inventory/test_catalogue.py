"""The shared catalogue's service (inventory.services.catalogue), its SQL and the barcode table."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from core.errors import ValidationFailed
from inventory import sql as inventory_sql
from inventory.models import Product, ProductBarcode
from inventory.selectors import product_for_code
from inventory.services.catalogue import (
    MAX_BATCH,
    ProductUpsert,
    product_upsert,
    products_upsert_batch,
)
from inventory.services.receiving import product_by_code
from partners.api.products import ProductSerializer
from tests.inventory.factories import ProductFactory
from tests.orders.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _barcodes(sku: str) -> list[str]:
    return sorted(ProductBarcode.objects.filter(product__sku=sku).values_list("barcode", flat=True))


# --- the barcode table and its trigger ----------------------------------------------


def test_the_primary_barcode_is_mirrored_into_the_barcode_table():
    product = ProductFactory(sku="M-1", barcode="111")
    assert _barcodes("M-1") == ["111"]
    product.barcode = "222"
    product.save()
    assert _barcodes("M-1") == ["222"]
    product.barcode = None
    product.save()
    assert _barcodes("M-1") == []


def test_a_primary_barcode_another_product_holds_is_a_unique_violation():
    holder = ProductFactory(sku="HOLDER", barcode=None)
    ProductBarcode.objects.create(product=holder, barcode="EXTRA")
    with pytest.raises(IntegrityError, match="belongs to another product"), transaction.atomic():
        ProductFactory(sku="THIEF", barcode="EXTRA")
    assert not Product.objects.filter(sku="THIEF").exists()


def test_promoting_an_extra_barcode_to_primary_keeps_one_row():
    product = ProductFactory(sku="P-1", barcode="A")
    ProductBarcode.objects.create(product=product, barcode="B")
    product.barcode = "B"
    product.save()
    assert _barcodes("P-1") == ["B"]


def test_scans_find_a_product_by_any_barcode_in_any_case():
    product = ProductFactory(sku="SCAN-1", barcode="PRIMARY")
    ProductBarcode.objects.create(product=product, barcode="extra-9")
    assert product_for_code(code="extra-9") == product
    assert product_for_code(code="EXTRA-9") == product
    assert product_for_code(code=" scan-1 ") == product
    assert product_for_code(code="") is None
    assert product_by_code(code="PRIMARY") == product


# --- the service ---------------------------------------------------------------------


def test_upsert_creates_then_changes_only_the_fields_given():
    channel = ChannelFactory(code="webshop")
    product, created = product_upsert(
        sku="S-1",
        changes={
            "name": "Shirt",
            "barcodes": ["1", "2"],
            "customs_value": Decimal("3.5"),
            "customs_currency": "EUR",
        },
        channel_id=channel.pk,
    )
    assert created
    product, created = product_upsert(
        sku="S-1", changes={"weight_grams": 10, "active": False}, channel_id=None
    )
    assert not created
    product.refresh_from_db()
    assert (product.name, product.weight_grams, product.is_active) == ("Shirt", 10, False)
    assert product.customs_value == Decimal("3.5")
    assert product.barcode == "1"
    assert _barcodes("S-1") == ["1", "2"]
    assert product.updated_by_channel_id is None  # the last writer was not a channel


@pytest.mark.parametrize(
    ("sku", "changes", "field"),
    [
        ("NEW", {}, "name"),
        ("NEW", {"name": "   "}, "name"),
        (" NEW", {"name": "x"}, "sku"),
        ("..", {"name": "x"}, "sku"),
        ("X" * 65, {"name": "x"}, "sku"),
        ("NEW", {"name": "x", "hs_code": "12"}, "hs_code"),
        ("NEW", {"name": "x", "country_of_origin": "pt"}, "country_of_origin"),
        ("NEW", {"name": "x", "customs_value": Decimal("1")}, "customs_currency"),
        ("NEW", {"name": "x", "barcodes": ["a", "a"]}, "barcodes[1]"),
        ("NEW", {"name": "x", "barcodes": ["a b"]}, "barcodes[0]"),
        ("NEW", {"name": "x", "barcodes": [str(i) for i in range(21)]}, "barcodes"),
        ("NEW", {"name": "x", "weight_grams": -1}, "weight_grams"),
    ],
)
def test_upsert_refuses_bad_items_and_writes_nothing(sku, changes, field):
    with pytest.raises(ValidationFailed) as refused:
        product_upsert(sku=sku, changes=changes, channel_id=None)
    assert refused.value.code == "invalid_product"
    assert field in [error["field"] for error in refused.value.errors]
    assert not Product.objects.exists()
    assert not ProductBarcode.objects.exists()


def test_an_existing_sku_outside_the_pattern_can_still_be_updated():
    ProductFactory(sku=" legacy sku")
    _, created = product_upsert(sku=" legacy sku", changes={"weight_grams": 5}, channel_id=None)
    assert not created
    assert Product.objects.get(sku=" legacy sku").weight_grams == 5


def test_batch_items_are_independent_and_answered_in_order():
    ProductFactory(sku="OLD", barcode="old-code")
    outcomes = products_upsert_batch(
        items=[
            ProductUpsert(sku="A", changes={"name": "A", "barcodes": ["a"]}),
            ProductUpsert(sku="B", changes={"name": "B", "barcodes": ["old-code"]}),
            ProductUpsert(sku="OLD", changes={"barcodes": ["new-code"]}),
            ProductUpsert(sku="A", changes={"name": "again"}),
            ProductUpsert(sku="C", changes={"name": "C", "barcodes": ["a"]}),
        ],
        channel_id=None,
    )
    assert [(o.sku, o.status) for o in outcomes] == [
        ("A", 201),
        ("B", 422),
        ("OLD", 200),
        ("A", 422),
        ("C", 422),
    ]
    assert outcomes[1].problem.code == "barcode_taken"
    assert outcomes[1].problem.extra["barcode_holders"] == [{"barcode": "old-code", "sku": "OLD"}]
    assert outcomes[4].problem.extra["barcode_holders"] == [{"barcode": "a", "sku": "A"}]
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["A", "OLD"]
    assert _barcodes("OLD") == ["new-code"]
    assert Product.objects.get(sku="A").name == "A"


def test_batch_over_the_limit_is_refused():
    items = [ProductUpsert(sku=f"L-{i}", changes={"name": "l"}) for i in range(MAX_BATCH + 1)]
    with pytest.raises(ValidationFailed):
        products_upsert_batch(items=items, channel_id=None)
    assert not Product.objects.exists()


# --- SQL against its ORM equivalent --------------------------------------------------


def _orm_json(product: Product) -> dict:
    barcodes = list(
        ProductBarcode.objects.filter(product=product)
        .order_by("id")
        .values_list("barcode", flat=True)
    )
    barcodes.sort(key=lambda code: code != product.barcode)  # stable: primary first
    return dict(
        ProductSerializer(
            {
                **{name: getattr(product, name, None) for name in ProductSerializer().fields},
                "barcodes": barcodes,
                "active": product.is_active,
            }
        ).data
    )


def test_product_json_sql_equals_the_serializer_of_the_orm_rows():
    import json

    whole_second = timezone.now().replace(microsecond=0)
    plain = ProductFactory(sku="J-1", barcode=None, customs_value=None, customs_currency="")
    rich = ProductFactory(sku="J-2", barcode="PRIMARY", customs_value=Decimal("12.5"))
    ProductBarcode.objects.create(product=rich, barcode="AAA-extra")
    Product.objects.filter(pk=plain.pk).update(updated_at=whole_second)
    products = {p.pk: p for p in Product.objects.all()}
    rendered = inventory_sql.products_json(ids=list(products))
    for pk, product in products.items():
        assert json.loads(rendered[pk]) == _orm_json(product)
    assert json.loads(inventory_sql.product_json_by_sku(sku="J-2")) == _orm_json(products[rich.pk])
    assert inventory_sql.product_json_by_sku(sku="nope") is None
    assert inventory_sql.products_json(ids=[]) == {}


def test_products_page_sql_renders_the_page_in_order():
    import json

    first, second = ProductFactory(sku="PG-1"), ProductFactory(sku="PG-2")
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH page(pk, n) AS (VALUES (%s::bigint, 1), (%s::bigint, 2)) "  # noqa: S608
            f"{inventory_sql.PRODUCTS_PAGE_SQL}",
            [second.pk, first.pk],
        )
        page = json.loads(cursor.fetchone()[0])
    assert [p["sku"] for p in page] == ["PG-2", "PG-1"]
    assert page[0] == _orm_json(Product.objects.get(pk=second.pk))


@pytest.mark.django_db(transaction=True)
def test_catalogue_lock_is_held_by_one_transaction_at_a_time():
    # The ORM has no advisory locks: the equivalent is "a second connection cannot take it".
    bucket = f"abs(mod(hashtext(%s), {inventory_sql.CATALOGUE_LOCK_BUCKETS}))"
    try_sql = (
        f"SELECT pg_try_advisory_xact_lock({inventory_sql.CATALOGUE_LOCK_NAMESPACE}, {bucket})"
    )
    names = [f"sku:{i}" for i in range(500)]
    other = connections.create_connection("default")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            inventory_sql.catalogue_lock(names=["sku:X", "barcode:1", "sku:X"])
            with other.cursor() as second:
                second.execute(try_sql, ["sku:X"])
                assert second.fetchone()[0] is False
            # However many names, at most CATALOGUE_LOCK_BUCKETS locks.
            cursor.execute(inventory_sql.CATALOGUE_LOCK_SQL, [names])
            assert cursor.fetchone()[0] == inventory_sql.CATALOGUE_LOCK_BUCKETS
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == inventory_sql.CATALOGUE_LOCK_BUCKETS
        with other.cursor() as second:
            second.execute(try_sql, ["barcode:1"])
            assert second.fetchone()[0] is True
    finally:
        other.close()


# --- real concurrency ----------------------------------------------------------------

THREADS = 8
_FIELDS = [
    ("weight_grams", 11),
    ("length_mm", 12),
    ("width_mm", 13),
    ("height_mm", 14),
    ("hs_code", "610910"),
    ("country_of_origin", "PT"),
    ("customs_description", "Cotton"),
    ("active", False),
]


def _race(batches: list[list[ProductUpsert]]):
    start = threading.Barrier(len(batches))
    outcomes, errors = [], []

    def worker(items):
        try:
            start.wait()
            outcomes.extend(products_upsert_batch(items=items, channel_id=None))
        except BaseException as exc:  # noqa: BLE001 - every failure is reported
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(items,)) for items in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes, errors


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_parallel_upserts_of_one_new_sku_lose_no_field():
    connection.close()
    outcomes, errors = _race(
        [
            [ProductUpsert(sku="RACE", changes={"name": "Race", name: value})]
            for name, value in _FIELDS
        ]
    )
    assert errors == []
    assert sorted(o.status for o in outcomes) == [200] * (THREADS - 1) + [201]
    product = Product.objects.get(sku="RACE")
    for name, value in _FIELDS:
        assert getattr(product, "is_active" if name == "active" else name) == value, name


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_parallel_claims_of_one_barcode_give_it_to_one_product():
    connection.close()
    outcomes, errors = _race(
        [
            [ProductUpsert(sku=f"CLAIM-{i}", changes={"name": "c", "barcodes": ["SAME"]})]
            for i in range(THREADS)
        ]
    )
    assert errors == []
    assert sorted(o.status for o in outcomes) == [201] + [422] * (THREADS - 1)
    assert {o.problem.code for o in outcomes if o.problem} == {"barcode_taken"}
    assert ProductBarcode.objects.filter(barcode="SAME").count() == 1
    assert Product.objects.count() == 1


def test_updated_at_moves_on_every_write():
    product = ProductFactory(sku="T-1")
    earlier = timezone.now() - dt.timedelta(days=1)
    Product.objects.filter(pk=product.pk).update(updated_at=earlier)
    product_upsert(sku="T-1", changes={"name": "same"}, channel_id=None)
    assert Product.objects.get(pk=product.pk).updated_at > earlier


# --- the admin ---------------------------------------------------------------------


def _product_form(product: Product, **changes) -> dict:
    data = {
        "sku": product.sku,
        "name": product.name,
        "barcode": product.barcode or "",
        "is_active": "on",
        "weight_grams": 1,
        "length_mm": 1,
        "width_mm": 1,
        "height_mm": 1,
        "hs_code": "",
        "country_of_origin": "",
        "customs_description": "",
        "customs_value": "",
        "customs_currency": "",
        "barcodes-TOTAL_FORMS": "1",
        "barcodes-INITIAL_FORMS": "0",
        "barcodes-0-barcode": "",
        "barcodes-0-id": "",
        "barcodes-0-product": str(product.pk),
    }
    return {**data, **changes}


def test_admin_edits_the_other_barcodes_inline(admin_client):
    product = ProductFactory(sku="ADM-1", barcode="PRIMARY-1")
    url = f"/admin/inventory/product/{product.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "Other barcodes" in page
    assert 'value="PRIMARY-1"' in page  # the primary one is the Barcode field, not a row
    response = admin_client.post(url, _product_form(product, **{"barcodes-0-barcode": "EXTRA-1"}))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _barcodes("ADM-1") == ["EXTRA-1", "PRIMARY-1"]
    assert product_for_code(code="EXTRA-1") == product


def test_admin_refuses_a_primary_barcode_another_product_holds(admin_client):
    holder = ProductFactory(sku="HOLD-1", barcode=None)
    ProductBarcode.objects.create(product=holder, barcode="TAKEN")
    product = ProductFactory(sku="ADM-2", barcode=None)
    response = admin_client.post(
        f"/admin/inventory/product/{product.pk}/change/",
        _product_form(product, barcode="TAKEN", **{"barcodes-TOTAL_FORMS": "0"}),
    )
    assert response.status_code == 200
    assert "Barcode TAKEN belongs to SKU HOLD-1." in response.content.decode()
    assert Product.objects.get(pk=product.pk).barcode is None


def test_channel_admin_edits_catalogue_write(admin_client):
    channel = ChannelFactory(code="erp")
    page = admin_client.get(f"/admin/orders/channel/{channel.pk}/change/").content.decode()
    assert 'name="catalogue_write"' in page
