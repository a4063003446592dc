"""The catalogue API: GET/PUT /api/v1/products/{sku}/, GET /api/v1/products/, POST .../batch."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.utils import timezone

from inventory.models import Product, ProductBarcode
from inventory.services.catalogue import MAX_BATCH
from partners.api.products import ProductSerializer
from tests.inventory.factories import ProductFactory

LIST = "/api/v1/products/"
BATCH = "/api/v1/products/batch"

BODY = {
    "name": "T-shirt black M",
    "barcodes": ["8712345678906", "08712345678906"],
    "weight_grams": 180,
    "length_mm": 300,
    "width_mm": 250,
    "height_mm": 20,
    "hs_code": "610910",
    "country_of_origin": "PT",
    "customs_description": "Cotton T-shirt",
    "customs_value": "6.50",
    "customs_currency": "EUR",
    "active": True,
}


def url(sku: str) -> str:
    return f"/api/v1/products/{quote(sku, safe='')}/"


@pytest.fixture
def writer(api_channel):
    api_channel.catalogue_write = True
    api_channel.save(update_fields=["catalogue_write"])
    return api_channel


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    return body


# --- reading -------------------------------------------------------------------------


def test_detail_renders_every_field_and_barcodes_primary_first(db, api_client):
    product = ProductFactory(sku="TSHIRT-BLK-M", barcode="111", customs_value=Decimal("6.5"))
    ProductBarcode.objects.create(product=product, barcode="000")
    response = api_client.get(url("TSHIRT-BLK-M"))
    assert response.status_code == 200
    body = response.json()
    assert body["barcodes"] == ["111", "000"]
    assert body["customs_value"] == "6.5000"
    assert body["active"] is True
    product.refresh_from_db()
    expected = ProductSerializer(
        {
            **{f: getattr(product, f) for f in ProductSerializer().fields if hasattr(product, f)},
            "barcodes": ["111", "000"],
            "active": product.is_active,
        }
    ).data
    assert body == expected


def test_unknown_sku_is_a_404_problem(db, api_client):
    body = _problem(api_client.get(url("NOPE-1")), 404, "product_not_found")
    assert "NOPE-1" in body["detail"]


def test_a_sku_with_a_slash_and_a_space_is_addressable(db, api_client):
    ProductFactory(sku="BOX 10/20")
    response = api_client.get(url("BOX 10/20"))
    assert response.status_code == 200
    assert response.json()["sku"] == "BOX 10/20"


def test_every_channel_reads_the_shared_catalogue(db, api_client, other_api_client, writer):
    assert api_client.put(url("SHARED-1"), {"name": "Shared"}, format="json").status_code == 201
    # The marketplace channel did not write it and cannot write: it still reads it.
    response = other_api_client.get(url("SHARED-1"))
    assert response.status_code == 200
    assert response.json()["name"] == "Shared"
    listed = other_api_client.get(LIST).json()["results"]
    assert [p["sku"] for p in listed] == ["SHARED-1"]


def test_list_pages_oldest_change_first_with_an_opaque_cursor(db, api_client):
    base = timezone.now() - dt.timedelta(hours=1)
    for index in range(5):
        product = ProductFactory(sku=f"P-{index}")
        Product.objects.filter(pk=product.pk).update(
            updated_at=base + dt.timedelta(minutes=index // 2)  # pairs share a time
        )
    seen = []
    response = api_client.get(LIST, {"page_size": 2})
    while True:
        body = response.json()
        seen += [p["sku"] for p in body["results"]]
        if body["next_cursor"] is None:
            break
        response = api_client.get(LIST, {"page_size": 2, "cursor": body["next_cursor"]})
    assert seen == ["P-0", "P-1", "P-2", "P-3", "P-4"]


def test_list_updated_after_is_inclusive_and_filters(db, api_client):
    base = timezone.now() - dt.timedelta(hours=1)
    for index in range(3):
        product = ProductFactory(sku=f"U-{index}")
        Product.objects.filter(pk=product.pk).update(updated_at=base + dt.timedelta(minutes=index))
    since = (base + dt.timedelta(minutes=1)).isoformat()
    body = api_client.get(LIST, {"updated_after": since}).json()
    assert [p["sku"] for p in body["results"]] == ["U-1", "U-2"]


def test_list_refuses_a_bad_cursor_and_a_bad_date(db, api_client):
    _problem(api_client.get(LIST, {"cursor": "nonsense"}), 400, "validation_failed")
    _problem(api_client.get(LIST, {"updated_after": "yesterday"}), 400, "validation_failed")


def test_list_is_one_statement_per_page_whatever_its_size(
    db, api_client, django_assert_max_num_queries
):
    for index in range(60):
        product = ProductFactory(sku=f"Q-{index:02d}")
        ProductBarcode.objects.create(product=product, barcode=f"extra-{index}")
    api_client.get(LIST)  # warm the key cache
    with django_assert_max_num_queries(4):
        response = api_client.get(LIST, {"page_size": 50})
    assert len(response.json()["results"]) == 50


# --- PUT -----------------------------------------------------------------------------


def test_put_creates_201_then_updates_200_keeping_unsent_fields(db, api_client, writer):
    created = api_client.put(url("TSHIRT-BLK-M"), BODY, format="json")
    assert created.status_code == 201
    assert created["Location"] == "/api/v1/products/TSHIRT-BLK-M/"
    assert created.json()["barcodes"] == BODY["barcodes"]
    updated = api_client.put(url("TSHIRT-BLK-M"), {"weight_grams": 200}, format="json")
    assert updated.status_code == 200
    body = updated.json()
    assert body["weight_grams"] == 200
    assert body["name"] == BODY["name"]
    assert body["barcodes"] == BODY["barcodes"]
    product = Product.objects.get(sku="TSHIRT-BLK-M")
    assert product.barcode == "8712345678906"
    assert product.updated_by_channel == writer
    assert product.customs_value == Decimal("6.50")


def test_put_replaces_the_barcodes_and_reorders_the_primary(db, api_client, writer):
    api_client.put(url("A-1"), {"name": "A", "barcodes": ["1", "2", "3"]}, format="json")
    body = api_client.put(url("A-1"), {"barcodes": ["3", "1"]}, format="json").json()
    assert body["barcodes"] == ["3", "1"]
    assert Product.objects.get(sku="A-1").barcode == "3"
    assert sorted(ProductBarcode.objects.values_list("barcode", flat=True)) == ["1", "3"]
    body = api_client.put(url("A-1"), {"barcodes": []}, format="json").json()
    assert body["barcodes"] == []
    assert not ProductBarcode.objects.exists()


def test_put_from_a_read_only_channel_is_403_and_writes_nothing(db, api_client):
    body = _problem(
        api_client.put(url("NEW-1"), {"name": "New"}, format="json"), 403, "catalogue_read_only"
    )
    assert "catalogue write access" in body["detail"]
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": None}, "name"),
        ({"weight_grams": -1}, "weight_grams"),
        ({"weight_grams": "180"}, "weight_grams"),
        ({"hs_code": "61091"}, "hs_code"),
        ({"country_of_origin": "XX"}, "country_of_origin"),
        ({"customs_currency": "EURO"}, "customs_currency"),
        ({"customs_value": "-1"}, "customs_value"),
        ({"customs_value": 6.5}, "customs_value"),
        ({"active": "yes"}, "active"),
        ({"barcodes": ["has space"]}, "barcodes[0]"),
        ({"barcodes": "8712345678906"}, "barcodes"),
    ],
)
def test_put_refuses_bad_fields_with_422_and_writes_nothing(db, api_client, writer, change, field):
    response = api_client.put(url("BAD-1"), {**BODY, **change}, format="json")
    body = _problem(response, 422, "invalid_product")
    assert field in [error["field"] for error in body["errors"]]
    assert not Product.objects.exists()
    assert not ProductBarcode.objects.exists()


def test_put_new_product_without_name_is_422(db, api_client, writer):
    body = _problem(
        api_client.put(url("NONAME"), {"weight_grams": 1}, format="json"), 422, "invalid_product"
    )
    assert body["errors"] == [{"field": "name", "message": "A new product needs a name."}]


def test_put_customs_value_needs_a_currency(db, api_client, writer):
    body = _problem(
        api_client.put(url("C-1"), {"name": "C", "customs_value": "1.00"}, format="json"),
        422,
        "invalid_product",
    )
    assert body["errors"][0]["field"] == "customs_currency"


def test_put_refuses_a_new_sku_outside_the_pattern(db, api_client, writer):
    body = _problem(
        api_client.put(url(" LEADING"), {"name": "x"}, format="json"), 422, "invalid_product"
    )
    assert body["errors"][0]["field"] == "sku"


def test_put_barcode_held_by_another_sku_is_422_naming_it(db, api_client, writer):
    ProductFactory(sku="MUG-WHITE", barcode="8712345678906")
    body = _problem(api_client.put(url("TSHIRT"), BODY, format="json"), 422, "barcode_taken")
    assert body["barcode_holders"] == [{"barcode": "8712345678906", "sku": "MUG-WHITE"}]
    assert body["errors"][0]["field"] == "barcodes[0]"
    assert "MUG-WHITE" in body["errors"][0]["message"]
    assert not Product.objects.filter(sku="TSHIRT").exists()


def test_put_with_idempotency_key_replays(db, api_client, writer):
    headers = {"Idempotency-Key": "put-1"}
    first = api_client.put(url("IDEM-1"), BODY, format="json", headers=headers)
    second = api_client.put(url("IDEM-1"), BODY, format="json", headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"


# --- batch ---------------------------------------------------------------------------


def test_batch_answers_each_item_in_input_order(db, api_client, writer):
    ProductFactory(sku="EXISTING", barcode="held")
    items = [
        {"sku": "NEW-1", "name": "New one", "barcodes": ["n1"]},
        {"sku": "EXISTING", "weight_grams": 42},
        {"sku": "NEW-2"},  # no name
        {"sku": "NEW-3", "name": "x", "barcodes": ["held"]},
        {"sku": " NEW-4", "name": "x"},  # not a SKU a product may get
        {"sku": "NEW-1", "name": "again"},
        {"sku": "NEW-5", "name": "Five", "barcodes": ["n1"]},  # claimed by item 0
    ]
    response = api_client.post(BATCH, {"products": items}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["sku"], r["status"]) for r in results] == [
        ("NEW-1", 201),
        ("EXISTING", 200),
        ("NEW-2", 422),
        ("NEW-3", 422),
        (" NEW-4", 422),
        ("NEW-1", 422),
        ("NEW-5", 422),
    ]
    assert results[0]["product"]["barcodes"] == ["n1"]
    assert results[1]["product"]["weight_grams"] == 42
    assert results[2]["problem"]["errors"] == [
        {"field": "name", "message": "A new product needs a name."}
    ]
    assert results[3]["problem"]["code"] == "barcode_taken"
    assert results[3]["problem"]["barcode_holders"] == [{"barcode": "held", "sku": "EXISTING"}]
    assert results[4]["problem"]["errors"][0]["field"] == "sku"
    assert results[6]["problem"]["barcode_holders"] == [{"barcode": "n1", "sku": "NEW-1"}]
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["EXISTING", "NEW-1"]
    assert Product.objects.get(sku="NEW-1").name == "New one"


def test_batch_with_a_malformed_item_is_refused_whole(db, api_client, writer):
    items = [
        {"sku": "OK-1", "name": "fine"},
        {"sku": "BAD-1", "name": "x", "weight_grams": "heavy"},
        "not an object",
        {"name": "no sku"},
        {"sku": "BAD-2", "name": "x", "country_of_origin": "XX"},
    ]
    body = _problem(
        api_client.post(BATCH, {"products": items}, format="json"), 422, "invalid_batch"
    )
    assert [e["field"] for e in body["errors"]] == [
        "products[1].weight_grams",
        "products[2]",
        "products[3].sku",
        "products[4].country_of_origin",
    ]
    assert not Product.objects.exists()


def test_batch_of_more_than_the_limit_is_refused_whole(db, api_client, writer):
    items = [{"sku": f"B-{i}", "name": "b"} for i in range(MAX_BATCH + 1)]
    body = _problem(
        api_client.post(BATCH, {"products": items}, format="json"), 422, "invalid_batch"
    )
    assert body["errors"][0]["field"] == "products"
    assert not Product.objects.exists()


@pytest.mark.parametrize("payload", [{}, {"products": []}, {"products": {"sku": "x"}}, []])
def test_batch_of_the_wrong_shape_is_422(db, api_client, writer, payload):
    _problem(api_client.post(BATCH, payload, format="json"), 422, "invalid_batch")


def test_batch_from_a_read_only_channel_is_403(db, api_client):
    response = api_client.post(BATCH, {"products": [{"sku": "X", "name": "x"}]}, format="json")
    _problem(response, 403, "catalogue_read_only")
    assert not Product.objects.exists()


def test_batch_replays_with_the_same_idempotency_key(db, api_client, writer):
    payload = {"products": [{"sku": "R-1", "name": "r"}, {"sku": "R-2"}]}
    headers = {"Idempotency-Key": "batch-1"}
    first = api_client.post(BATCH, payload, format="json", headers=headers)
    Product.objects.filter(sku="R-1").update(name="changed since")
    second = api_client.post(BATCH, payload, format="json", headers=headers)
    assert second.status_code == first.status_code == 200
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert Product.objects.get(sku="R-1").name == "changed since"  # not written again
    payload["products"][0]["name"] = "other"
    _problem(
        api_client.post(BATCH, payload, format="json", headers=headers),
        422,
        "idempotency_key_reused",
    )


def test_a_batch_of_1000_is_a_few_statements(db, api_client, writer, django_assert_max_num_queries):
    for index in range(0, 1000, 2):  # half exist already, with a barcode each
        ProductFactory(sku=f"K-{index:04d}", barcode=f"old-{index}")
    items = [
        {
            **BODY,
            "sku": f"K-{index:04d}",
            "barcodes": [f"new-{index}", f"alt-{index}"],
        }
        for index in range(1000)
    ]
    api_client.get(LIST)  # warm the key cache
    with django_assert_max_num_queries(20):
        response = api_client.post(
            BATCH, {"products": items}, format="json", headers={"Idempotency-Key": "k-1000"}
        )
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 201] * 500
    assert Product.objects.count() == 1000
    assert ProductBarcode.objects.count() == 2000
    assert not ProductBarcode.objects.filter(barcode__startswith="old-").exists()
