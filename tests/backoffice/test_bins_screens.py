"""Bin screens: bins on the stock page, bin-to-bin moves, the bins list, putaway on receipt."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inventory.models import BinMovement, BinStock, InboundReceipt, StockLevel
from inventory.services.bins import bin_create, bin_move, bin_putaway
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.inventory.helpers import asn, stock
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return WarehouseFactory(code="own-1")


@pytest.fixture
def shelved(site):
    """SHIRT-M: 10 on hand at own-1, 6 in A-01, 3 in A-02, 1 unbinned."""
    shirt = ProductFactory(sku="SHIRT-M", barcode="5012345678900")
    stock(shirt, site, 10)
    a1 = bin_create(warehouse=site, code="A-01", zone="A", pick_sequence=1)
    a2 = bin_create(warehouse=site, code="A-02", zone="A", pick_sequence=2)
    bin_create(warehouse=site, code="B-01", zone="B", pick_sequence=10)
    bin_putaway(warehouse=site, product=shirt, bin=a1, quantity=6)
    bin_putaway(warehouse=site, product=shirt, bin=a2, quantity=3)
    return StockLevel.objects.get(product=shirt, warehouse=site)


def _held(code, sku="SHIRT-M"):
    row = BinStock.objects.filter(bin__code=code, product__sku=sku).first()
    return row.quantity if row else 0


def test_stock_page_shows_each_bin_and_the_unbinned_rest(client, warehouse_user, shelved):
    client.force_login(warehouse_user)

    html = client.get(f"/warehouse/stock/{shelved.pk}/").content.decode()

    assert 'id="level-bins"' in html
    assert "A-01" in html
    assert "A-02" in html
    assert 'id="unbinned">1<' in html
    assert 'id="bin-move-form"' in html
    assert html.count("Put away") == 2  # the bin history


def test_stock_page_with_bins_in_constant_queries(
    client, warehouse_user, shelved, django_assert_max_num_queries
):
    client.force_login(warehouse_user)
    client.get(f"/warehouse/stock/{shelved.pk}/")
    with django_assert_max_num_queries(14) as few:
        client.get(f"/warehouse/stock/{shelved.pk}/")
    site = shelved.warehouse
    for n in range(5):
        extra = bin_create(warehouse=site, code=f"X-{n}", zone="X", pick_sequence=50 + n)
        a1 = BinStock.objects.get(bin__code="A-01").bin
        bin_move(from_bin=a1, to_bin=extra, product=shelved.product, quantity=1)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(f"/warehouse/stock/{shelved.pk}/")


def test_stock_page_of_an_lsp_site_has_no_bins(client, warehouse_user):
    lsp = WarehouseFactory(code="lsp-1", kind="lsp", provider=ProviderFactory())
    shirt = ProductFactory(sku="LSP-SKU")
    stock(shirt, lsp, 2)
    level = StockLevel.objects.get(product=shirt)
    client.force_login(warehouse_user)

    html = client.get(f"/warehouse/stock/{level.pk}/").content.decode()

    assert 'id="level-bins"' not in html


def test_warehouse_user_moves_stock_between_bins(client, warehouse_user, shelved):
    client.force_login(warehouse_user)
    a1 = BinStock.objects.get(bin__code="A-01").bin

    response = client.post(
        f"/warehouse/stock/{shelved.pk}/bin-move/",
        {"from_bin": a1.pk, "to_bin": "b-01", "quantity": "4"},
    )

    assert response.status_code == 303
    assert (_held("A-01"), _held("B-01")) == (2, 4)
    moves = BinMovement.objects.filter(type="move")
    assert {m.actor for m in moves} == {warehouse_user}


def test_moving_more_than_the_bin_holds_is_refused_with_a_message(client, warehouse_user, shelved):
    client.force_login(warehouse_user)
    a2 = BinStock.objects.get(bin__code="A-02").bin

    response = client.post(
        f"/warehouse/stock/{shelved.pk}/bin-move/",
        {"from_bin": a2.pk, "to_bin": "B-01", "quantity": "5"},
        follow=True,
    )

    assert "holds 3" in response.content.decode()
    assert (_held("A-02"), _held("B-01")) == (3, 0)


def test_move_to_an_unknown_bin_is_refused(client, warehouse_user, shelved):
    client.force_login(warehouse_user)
    a1 = BinStock.objects.get(bin__code="A-01").bin

    response = client.post(
        f"/warehouse/stock/{shelved.pk}/bin-move/",
        {"from_bin": a1.pk, "to_bin": "NOPE", "quantity": "1"},
        follow=True,
    )

    assert "No bin" in response.content.decode()
    assert _held("A-01") == 6


def test_an_invalid_move_form_shows_its_errors(client, warehouse_user, shelved):
    client.force_login(warehouse_user)

    response = client.post(
        f"/warehouse/stock/{shelved.pk}/bin-move/", {"to_bin": "", "quantity": "0"}
    )

    assert response.status_code == 422
    assert 'id="bin-move-form"' in response.content.decode()


def test_agent_cannot_move_bin_stock(client, agent, shelved):
    client.force_login(agent)
    a1 = BinStock.objects.get(bin__code="A-01").bin

    response = client.post(
        f"/warehouse/stock/{shelved.pk}/bin-move/",
        {"from_bin": a1.pk, "to_bin": "B-01", "quantity": "1"},
    )

    assert response.status_code == 403
    assert _held("A-01") == 6


def test_bins_list_filters_by_warehouse_and_zone_in_constant_queries(
    client, warehouse_user, shelved, django_assert_max_num_queries
):
    other = WarehouseFactory(code="own-2")
    for n in range(30):
        bin_create(warehouse=other, code=f"C-{n:02}", zone="C", pick_sequence=n)
    client.force_login(warehouse_user)

    with django_assert_max_num_queries(12):
        everything = client.get("/warehouse/bins/").content.decode()
    with django_assert_max_num_queries(12):
        zone_a = client.get(
            "/warehouse/bins/", {"warehouse": shelved.warehouse_id, "zone": "A"}
        ).content.decode()

    assert "C-29" in everything
    assert "A-01" in everything
    assert "A-01" in zone_a
    assert "B-01" not in zone_a
    assert "C-01" not in zone_a
    row = zone_a.split("A-01", 1)[1].split("</tr>", 1)[0]
    assert 'data-label="Units">6<' in row


def test_receiving_at_an_own_site_shows_the_suggested_bin_and_puts_away_there(
    client, warehouse_user, shelved
):
    inbound = asn(warehouse=shelved.warehouse, reference="ASN-B1", lines=[("SHIRT-M", 2)])
    client.force_login(warehouse_user)

    page = client.get(f"/warehouse/inbound/{inbound.pk}/").content.decode()
    assert 'id="scan-bin"' in page
    assert '<td class="bin" title="Suggested bin">A-01</td>' in page

    answer = client.post(
        f"/warehouse/inbound/{inbound.pk}/receive/",
        {"barcode": "5012345678900", "quantity": "2"},
        HTTP_ACCEPT="application/json",
    ).json()

    assert answer["bin"] == "A-01"
    assert _held("A-01") == 8
    assert StockLevel.objects.get(pk=shelved.pk).on_hand == 12


def test_receiving_into_a_typed_bin(client, warehouse_user, shelved):
    inbound = asn(warehouse=shelved.warehouse, reference="ASN-B2", lines=[("SHIRT-M", 1)])
    client.force_login(warehouse_user)

    response = client.post(
        f"/warehouse/inbound/{inbound.pk}/receive/",
        {"barcode": "SHIRT-M", "quantity": "1", "bin": "b-01"},
    )

    assert response.status_code == 303
    assert _held("B-01") == 1


def test_receiving_into_an_unknown_bin_receives_nothing(client, warehouse_user, shelved):
    inbound = asn(warehouse=shelved.warehouse, reference="ASN-B3", lines=[("SHIRT-M", 1)])
    client.force_login(warehouse_user)

    response = client.post(
        f"/warehouse/inbound/{inbound.pk}/receive/",
        {"barcode": "SHIRT-M", "quantity": "1", "bin": "ZZ-99"},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 404
    assert response.json()["code"] == "invalid_bin"
    assert not InboundReceipt.objects.exists()
    assert StockLevel.objects.get(pk=shelved.pk).on_hand == 10


def test_a_full_bin_refuses_the_receipt_too(client, warehouse_user, site):
    shirt = ProductFactory(sku="TEE")
    small = bin_create(warehouse=site, code="S-01", zone="S", pick_sequence=1, max_units=1)
    inbound = asn(warehouse=site, reference="ASN-B4", lines=[("TEE", 3)])
    client.force_login(warehouse_user)

    response = client.post(
        f"/warehouse/inbound/{inbound.pk}/receive/",
        {"barcode": "TEE", "quantity": "3", "bin": small.code},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 409
    assert not StockLevel.objects.filter(product=shirt, on_hand__gt=0).exists()


def test_receiving_page_with_many_lines_suggests_in_constant_queries(
    client, warehouse_user, site, django_assert_max_num_queries
):
    bin_create(warehouse=site, code="A-01", zone="A", pick_sequence=1)
    for n in range(20):
        ProductFactory(sku=f"MANY-{n}")
    inbound = asn(warehouse=site, reference="ASN-B5", lines=[(f"MANY-{n}", 1) for n in range(20)])
    client.force_login(warehouse_user)

    with django_assert_max_num_queries(16):
        page = client.get(f"/warehouse/inbound/{inbound.pk}/").content.decode()

    # One empty bin for twenty new products: the first gets it, the rest none.
    assert page.count('title="Suggested bin">A-01<') == 1


def test_bins_import_command(site, tmp_path):
    path = tmp_path / "bins.csv"
    path.write_text("code,zone,pick_sequence\nA-01,A,1\nA-02,A,2\n", encoding="utf-8")

    call_command("bins_import", "own-1", str(path))
    path.write_text("code,zone,pick_sequence\nA-02,B,9\n", encoding="utf-8")
    call_command("bins_import", "own-1", str(path))

    assert list(site.bins.values_list("code", "zone", "pick_sequence")) == [
        ("A-01", "A", 1),
        ("A-02", "B", 9),
    ]
    path.write_text("code,zone,pick_sequence\nA-03,A,three\n", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("bins_import", "own-1", str(path))
    with pytest.raises(CommandError):
        call_command("bins_import", "nowhere", str(path))
