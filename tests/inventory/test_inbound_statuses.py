"""The ASN status machine, its database check, LSP receipts into the ledger, and the
partner API's list SQL against the Python rendering of one ASN."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from core.errors import Conflict, IllegalTransition, ValidationFailed
from inventory import error_codes
from inventory.models import InboundLine, InboundShipment, StockLevel, StockMovement
from inventory.selectors import INBOUNDS_PAGE_SQL, inbound_data
from inventory.services.receiving import (
    INBOUND_TRANSITIONS,
    ExpectedLine,
    LspReceipt,
    inbound_cancel,
    inbound_close,
    inbound_create,
    inbound_mark_in_transit,
    inbound_mark_sent,
    inbound_receipts_from_lsp,
    inbound_receive,
)
from tests.inventory.factories import ProductFactory, WarehouseFactory
from tests.logistics.factories import ProviderFactory

pytestmark = pytest.mark.django_db
S = InboundShipment.Status


@pytest.fixture
def own():
    return WarehouseFactory(code="own-1")


@pytest.fixture
def lsp():
    return WarehouseFactory(code="lsp-1", kind="lsp", provider=ProviderFactory(code="lsp-x"))


@pytest.fixture
def products():
    return [ProductFactory(sku="ASN-A"), ProductFactory(sku="ASN-B")]


def _create(warehouse, reference="PO-1", lines=(("ASN-A", 10), ("ASN-B", 3))):
    return inbound_create(
        warehouse_code=warehouse.code,
        reference=reference,
        lines=[ExpectedLine(sku=sku, quantity=qty) for sku, qty in lines],
    )


def _on_hand(product, warehouse) -> int:
    level = StockLevel.objects.filter(product=product, warehouse=warehouse).first()
    return level.on_hand if level else 0


def test_own_site_asn_starts_sent_and_lsp_site_asn_starts_draft(own, lsp, products):
    assert _create(own).status == S.SENT
    assert _create(lsp).status == S.DRAFT


def test_numbers_are_public_unique_and_sequential(own, products):
    first = _create(own, "PO-1")
    second = _create(own, "PO-2")
    assert first.number.startswith("ASN-")
    assert len(first.number) == 10
    assert int(second.number[4:]) > int(first.number[4:])


def test_database_refuses_an_unknown_status(own, products):
    inbound = _create(own)
    with pytest.raises(IntegrityError), transaction.atomic():
        InboundShipment.objects.filter(pk=inbound.pk).update(status="closed")


def test_every_status_in_the_machine_is_a_choice_and_final_ones_lead_nowhere():
    assert set(INBOUND_TRANSITIONS) == set(S.values)
    assert INBOUND_TRANSITIONS[S.RECEIVED] == INBOUND_TRANSITIONS[S.CANCELLED] == frozenset()
    assert S.CANCELLED not in INBOUND_TRANSITIONS[S.RECEIVING]


def test_lsp_asn_goes_draft_sent_in_transit_receiving_received(lsp, products):
    inbound = _create(lsp)
    inbound = inbound_mark_sent(inbound_id=inbound.pk, provider_reference="sba_1")
    assert (inbound.status, inbound.provider_reference) == (S.SENT, "sba_1")
    assert inbound_mark_in_transit(inbound_id=inbound.pk).status == S.IN_TRANSIT
    inbound_receive(inbound=inbound, code="ASN-A", quantity=4, source="lsp", external_id="r1")
    inbound.refresh_from_db()
    assert inbound.status == S.RECEIVING
    inbound_close(inbound=inbound)
    inbound.refresh_from_db()
    assert inbound.status == S.RECEIVED
    assert inbound.closed_at is not None


def test_cancel_before_arrival_and_refused_once_receiving(own, products):
    early = _create(own, "PO-1")
    assert inbound_cancel(inbound=early).status == S.CANCELLED
    late = _create(own, "PO-2")
    inbound_receive(inbound=late, code="ASN-A")
    with pytest.raises(IllegalTransition) as exc:
        inbound_cancel(inbound=late)
    assert exc.value.code == error_codes.INBOUND_NOT_CANCELLABLE
    late.refresh_from_db()
    assert late.status == S.RECEIVING


def test_cancelled_asn_receives_nothing(own, products):
    inbound = _create(own)
    inbound_cancel(inbound=inbound)
    with pytest.raises(Conflict, match="cancelled"):
        inbound_receive(inbound=inbound, code="ASN-A")
    assert not StockMovement.objects.exists()


def test_bad_input_writes_nothing(own, products):
    with pytest.raises(ValidationFailed) as exc:
        _create(own, lines=(("ASN-A", 1), ("NOPE", 1), ("ASN-A", 2)))
    fields = {e["field"] for e in exc.value.errors}
    assert fields == {"lines[1].sku", "lines[2].sku"}
    with pytest.raises(ValidationFailed):
        inbound_create(warehouse_code="nowhere", reference="X", lines=[ExpectedLine("ASN-A", 1)])
    assert not InboundShipment.objects.exists()
    assert not InboundLine.objects.exists()


def test_duplicate_reference_at_a_warehouse_is_a_conflict_naming_the_asn(own, products):
    first = _create(own)
    with pytest.raises(Conflict) as exc:
        _create(own)
    assert exc.value.code == error_codes.INBOUND_REFERENCE_EXISTS
    assert exc.value.extra["existing_inbound"] == first.number
    assert InboundShipment.objects.count() == 1


def test_lsp_short_receipt_posts_what_arrived_once_and_shows_the_discrepancy(lsp, products):
    a, b = products
    inbound = _create(lsp)
    receipts = [LspReceipt("rcp-1", "ASN-A", 9), LspReceipt("rcp-2", "ASN-B", 3)]
    for _ in range(2):  # a redelivered event changes nothing
        inbound = inbound_receipts_from_lsp(inbound_id=inbound.pk, receipts=receipts, complete=True)
    assert inbound.status == S.RECEIVED
    assert (_on_hand(a, lsp), _on_hand(b, lsp)) == (9, 3)
    assert StockMovement.objects.filter(type="receipt").count() == 2
    lines = {line["sku"]: line for line in inbound_data(inbound=inbound)["lines"]}
    assert lines["ASN-A"] == {"sku": "ASN-A", "expected": 10, "received": 9, "discrepancy": -1}
    assert lines["ASN-B"]["discrepancy"] == 0


def test_lsp_over_receipt_and_an_unannounced_sku_are_recorded(lsp, products):
    ProductFactory(sku="ASN-C")
    inbound = _create(lsp, lines=(("ASN-A", 2),))
    inbound_receipts_from_lsp(
        inbound_id=inbound.pk,
        receipts=[LspReceipt("r1", "ASN-A", 3), LspReceipt("r2", "ASN-C", 1)],
        complete=False,
    )
    data = inbound_data(inbound=inbound)
    assert data["status"] == "receiving"
    assert [(x["sku"], x["discrepancy"]) for x in data["lines"]] == [("ASN-A", 1), ("ASN-C", 1)]


def test_receipts_for_a_received_asn_change_nothing(lsp, products):
    inbound = _create(lsp)
    inbound_receipts_from_lsp(
        inbound_id=inbound.pk, receipts=[LspReceipt("r1", "ASN-A", 10)], complete=True
    )
    inbound_receipts_from_lsp(
        inbound_id=inbound.pk, receipts=[LspReceipt("r9", "ASN-A", 5)], complete=True
    )
    assert _on_hand(products[0], lsp) == 10


def test_page_sql_renders_each_asn_as_inbound_data(own, lsp, products):
    first = _create(own, "PO-1")
    second = _create(lsp, "PO-2")
    inbound_receive(inbound=first, code="ASN-B", quantity=5)
    inbound_close(inbound=first)
    ids = [first.pk, second.pk]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH page(pk, n) AS (SELECT * FROM unnest(%s::bigint[], %s::int[])) "  # noqa: S608
            f"{INBOUNDS_PAGE_SQL}",
            [ids, [1, 2]],
        )
        import json

        rendered = json.loads(cursor.fetchone()[0])
    expected = [inbound_data(inbound=InboundShipment.objects.get(pk=pk)) for pk in ids]
    assert rendered == expected
    assert rendered[0]["received_at"] is not None
    assert rendered[1]["received_at"] is None


@pytest.mark.django_db(transaction=True)
def test_migration_maps_old_statuses_and_numbers_existing_asns():
    from django.db.migrations.executor import MigrationExecutor

    before = [("inventory", "0005_low_stock_alerts_sync")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        warehouse = old.get_model("inventory", "Warehouse").objects.create(
            code="mig-1", name="M", country="NL"
        )
        rows = old.get_model("inventory", "InboundShipment").objects
        rows.create(warehouse=warehouse, reference="A", status="expected")
        rows.create(warehouse=warehouse, reference="B", status="closed")
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)
    finally:
        MigrationExecutor(connection).migrate(latest)
    migrated = dict(InboundShipment.objects.values_list("reference", "status"))
    assert migrated == {"A": "sent", "B": "received"}
    numbers = list(InboundShipment.objects.values_list("number", flat=True))
    assert len(set(numbers)) == 2
    assert all(n.startswith("ASN-") for n in numbers)
