"""Admin screens of the operation models call the services and check permissions."""

import pytest

from inventory.models import StockLevel, StockSnapshot, Warehouse
from inventory.services.reconciliation import snapshot_record
from tests.inventory.factories import WarehouseFactory
from tests.inventory.helpers import asn, product, stock, warehouses
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db


def test_warehouse_user_receives_by_scanning_in_admin(client, warehouse_user):
    (wh,) = warehouses("wh-a")
    shirt = product("SHIRT")
    inbound = asn(warehouse=wh, reference="ASN-9", lines=[("SHIRT", 2)])
    client.force_login(warehouse_user)

    response = client.post(
        f"/admin/inventory/inboundshipment/{inbound.pk}/receive/",
        {"code": shirt.barcode, "quantity": 2},
    )

    assert response.status_code == 302
    assert StockLevel.objects.get(product=shirt, warehouse=wh).on_hand == 2


def test_receive_page_shows_unknown_barcode_message(client, warehouse_user):
    (wh,) = warehouses("wh-a")
    product("SHIRT")
    inbound = asn(warehouse=wh, reference="ASN-9", lines=[("SHIRT", 2)])
    client.force_login(warehouse_user)

    response = client.post(
        f"/admin/inventory/inboundshipment/{inbound.pk}/receive/",
        {"code": "NOPE", "quantity": 1},
        follow=True,
    )

    assert "No product has the barcode or SKU" in response.content.decode()


def test_customer_service_cannot_receive(client, agent):
    (wh,) = warehouses("wh-a")
    product("SHIRT")
    inbound = asn(warehouse=wh, reference="ASN-9", lines=[("SHIRT", 2)])
    client.force_login(agent)

    response = client.post(
        f"/admin/inventory/inboundshipment/{inbound.pk}/receive/", {"code": "SHIRT"}
    )

    assert response.status_code in {302, 403}
    assert not StockLevel.objects.filter(on_hand__gt=0).exists()


def _snapshot():
    wh = WarehouseFactory(code="lsp-1", kind=Warehouse.Kind.LSP, provider=ProviderFactory())
    shirt = product("SHIRT")
    stock(shirt, wh, 5)
    return snapshot_record(warehouse=wh, rows=[{"sku": "SHIRT", "on_hand": 3}])


def test_manager_accepts_snapshot_in_one_action(client, manager):
    snapshot = _snapshot()
    client.force_login(manager)

    client.post(
        "/admin/inventory/stocksnapshot/",
        {"action": "accept_differences", "_selected_action": [snapshot.pk]},
    )

    snapshot.refresh_from_db()
    assert snapshot.status == StockSnapshot.Status.ACCEPTED
    assert StockLevel.objects.get().on_hand == 3


def test_warehouse_user_cannot_accept_snapshot(client, warehouse_user):
    snapshot = _snapshot()
    client.force_login(warehouse_user)

    response = client.post(
        "/admin/inventory/stocksnapshot/",
        {"action": "accept_differences", "_selected_action": [snapshot.pk]},
    )

    assert response.status_code == 403
    snapshot.refresh_from_db()
    assert snapshot.status == StockSnapshot.Status.OPEN


def test_import_upload_in_admin_creates_a_job(client, warehouse_user, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from inventory.models import ImportJob

    settings.MEDIA_ROOT = tmp_path
    client.force_login(warehouse_user)

    response = client.post(
        "/admin/inventory/importjob/add/",
        {
            "kind": "stock_levels",
            "file": SimpleUploadedFile("s.csv", b"sku,warehouse,on_hand\n"),
            "dry_run": "on",
        },
    )

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.kind, job.dry_run, job.status, job.created_by) == (
        "stock_levels",
        True,
        "pending",
        warehouse_user,
    )


def test_snapshot_upload_in_admin_records_differences(client, warehouse_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    wh = WarehouseFactory(code="lsp-1", kind=Warehouse.Kind.LSP, provider=ProviderFactory())
    stock(product("SHIRT"), wh, 5)
    client.force_login(warehouse_user)

    response = client.post(
        "/admin/inventory/stocksnapshot/add/",
        {"warehouse": wh.pk, "file": SimpleUploadedFile("s.csv", b"sku,on_hand\nSHIRT,4\n")},
    )

    assert response.status_code == 302
    snapshot = StockSnapshot.objects.get()
    assert [(x.lsp_on_hand, x.consign_on_hand) for x in snapshot.lines.all()] == [(4, 5)]
